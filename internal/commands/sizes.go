package commands

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/tracehouse/tracehouse/internal/cli"
)

// byteSize is a size flag: a number of bytes with an optional unit, KiB,
// MiB, GiB, TiB (powers of 1024) or KB, MB, GB, TB (powers of 1000), in
// any case: 2GiB, 512MiB, 1.5GB, 1048576.
type byteSize struct{ n *int64 }

var sizeUnits = []struct {
	suffix string
	bytes  float64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"b", 1},
}

func parseByteSize(s string) (int64, error) {
	text := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range sizeUnits {
		if strings.HasSuffix(text, u.suffix) {
			text, mult = strings.TrimSpace(strings.TrimSuffix(text, u.suffix)), u.bytes
			break
		}
	}
	v, err := strconv.ParseFloat(text, 64)
	if err != nil || v < 0 || v*mult > 1<<62 {
		return 0, fmt.Errorf("%q is not a size: want bytes with an optional unit, e.g. 2GiB, 512MiB, 1.5GB or 1048576", s)
	}
	return int64(v * mult), nil
}

// formatByteSize writes n in the largest binary unit that keeps it whole.
func formatByteSize(n int64) string {
	for _, u := range []struct {
		name  string
		bytes int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.bytes == 0 {
			return strconv.FormatInt(n/u.bytes, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

func (v byteSize) String() string {
	if v.n == nil {
		return ""
	}
	return formatByteSize(*v.n)
}

func (v byteSize) Set(s string) error {
	n, err := parseByteSize(s)
	if err != nil {
		return err
	}
	*v.n = n
	return nil
}

// byteSizeVar defines a size flag stored in p, starting at def.
func byteSizeVar(fs *cli.FlagSet, p *int64, name string, def int64, usage string) {
	*p = def
	fs.Var(byteSize{p}, name, usage)
}

// machineMemory is the memory this process may use: the machine's, or its
// cgroup's limit when that is lower. 0 when neither can be read.
func machineMemory() int64 {
	total := memInfoTotal()
	for _, path := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		limit, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err == nil && limit > 0 && (total == 0 || limit < total) {
			total = limit // "max" (no limit) does not parse and is skipped
		}
	}
	return total
}

func memInfoTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kib, err := strconv.ParseInt(fields[1], 10, 64)
			if err == nil {
				return kib << 10
			}
		}
	}
	return 0
}
