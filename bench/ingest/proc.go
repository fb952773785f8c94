package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/tracehouse/tracehouse/storage/embedded"
)

const clockTicks = 100 // USER_HZ on Linux

// cpuSeconds is utime+stime of the whole process (all threads).
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	return float64(ut+st) / clockTicks, nil
}

// statusKB reads a "VmHWM:"-style line of /proc/PID/status in kB.
func statusKB(pid int, key string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, key+":") {
			fs := strings.Fields(line[len(key)+1:])
			return strconv.ParseInt(fs[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("%s not in /proc/%d/status", key, pid)
}

// ioBytes reads a counter of /proc/PID/io ("write_bytes": bytes the
// process caused to be written to storage).
func ioBytes(pid int, key string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s not in /proc/%d/io", key, pid)
}

// chHTTP runs one query on the engine's HTTP interface and returns the
// body, trimmed.
type chHTTP struct {
	base         string
	hc           *http.Client
	passwordFile string // the engine's, in its data folder
}

// password is the engine's password, once the engine has written it.
func (c chHTTP) password() (string, error) {
	b, err := os.ReadFile(c.passwordFile)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func (c chHTTP) query(q string) (string, error) {
	password, err := c.password()
	if err != nil {
		return "", err
	}
	req, err := http.NewRequest(http.MethodPost, c.base+"/?query="+url.QueryEscape(q), nil)
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(embedded.DefaultUser, password)
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("%s: %s: %s", q, resp.Status, strings.TrimSpace(string(b)))
	}
	return strings.TrimSpace(string(b)), nil
}

func (c chHTTP) int(q string) (int64, error) {
	s, err := c.query(q)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(s, 10, 64)
}

func (c chHTTP) waitUp(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		if _, err := c.query("SELECT 1"); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func numCPU() int { return runtime.NumCPU() }

func debugGC() { runtime.GC() }
