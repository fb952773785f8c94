package embedded

import (
	"os"
	"syscall"
	"unsafe"
)

// mappedFile is a file's bytes mapped into memory read-only, so that a
// spooled body can be checked without a second copy of it on the heap.
type mappedFile struct {
	text string
	mem  []byte
}

func mapFile(path string) (*mappedFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() == 0 {
		return &mappedFile{}, nil
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	return &mappedFile{text: unsafe.String(&mem[0], len(mem)), mem: mem}, nil
}

// unmap releases the mapping; text must not be used after.
func (m *mappedFile) unmap() {
	if m.mem != nil {
		syscall.Munmap(m.mem)
		m.mem, m.text = nil, ""
	}
}
