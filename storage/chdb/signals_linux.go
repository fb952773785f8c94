package chdb

import (
	"syscall"
	"unsafe"
)

// kernelSigaction is struct sigaction as the rt_sigaction system call sees it
// on linux/amd64 and linux/arm64.
type kernelSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

const maxSignal = 64

// signalHandlers is a snapshot of every signal disposition of the process.
type signalHandlers [maxSignal + 1]kernelSigaction

// saveSignalHandlers reads every handler. It must run before libchdb is
// opened: loading and connecting the engine installs its own handlers for
// SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGTSTP and others, and
// with those in place a Go nil dereference hangs the process instead of
// panicking.
func saveSignalHandlers() *signalHandlers {
	var s signalHandlers
	for sig := 1; sig <= maxSignal; sig++ {
		syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), 0, uintptr(unsafe.Pointer(&s[sig])), 8, 0, 0)
	}
	return &s
}

// restore writes back every handler that changed since the snapshot, so that
// Go's runtime owns the signals again. The engine keeps working: it does not
// depend on its handlers for normal operation.
func (s *signalHandlers) restore() (restored int) {
	for sig := 1; sig <= maxSignal; sig++ {
		if sig == int(syscall.SIGKILL) || sig == int(syscall.SIGSTOP) {
			continue
		}
		var now kernelSigaction
		syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), 0, uintptr(unsafe.Pointer(&now)), 8, 0, 0)
		if now != s[sig] {
			syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&s[sig])), 0, 8, 0, 0)
			restored++
		}
	}
	return restored
}
