package testpeer

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// Proc is a peer process started by Start.
type Proc struct {
	t    testing.TB
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer // stdout and stderr
	done chan struct{}
	err  error
}

// Start starts cmd (with Dir and arguments set by the caller; its stdout and stderr
// are captured) and registers a cleanup that kills it if still running, waits for it
// and, when the test failed, logs the tail of its output and runs onFail (if not nil,
// e.g. to log the peer's own log files).
func Start(t testing.TB, cmd *exec.Cmd, onFail func()) *Proc {
	t.Helper()
	p := &Proc{t: t, cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = (*procWriter)(p), (*procWriter)(p)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("%s %q, output:\n%s", cmd.Path, cmd.Args[1:], Tail(p.Output(), 3000))
			if onFail != nil {
				onFail()
			}
		}
	})
	return p
}

type procWriter Proc

func (w *procWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.Write(b)
}

// Output is what the process wrote so far.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Done is closed when the process exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Wait waits up to d for the process to exit and returns its exit error (nil: exit
// 0); after d it kills the process and fails the test.
func (p *Proc) Wait(d time.Duration) error {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		p.kill()
		p.t.Fatalf("%s did not finish within %v", p.cmd.Path, d)
	}
	return p.err
}

func (p *Proc) kill() {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Tail is the last n bytes of s, marked as cut when longer.
func Tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}

// WriteToneWAV writes seconds of a hz sine as a 16-bit mono 8 kHz WAV (baresip's aufile
// source).
func WriteToneWAV(t testing.TB, path string, hz float64, seconds int) {
	t.Helper()
	n := 8000 * seconds
	data := make([]byte, 44+2*n)
	copy(data[0:], "RIFF")
	binary.LittleEndian.PutUint32(data[4:], uint32(36+2*n))
	copy(data[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(data[16:], 16)
	binary.LittleEndian.PutUint16(data[20:], 1)    // PCM
	binary.LittleEndian.PutUint16(data[22:], 1)    // mono
	binary.LittleEndian.PutUint32(data[24:], 8000) // sample rate
	binary.LittleEndian.PutUint32(data[28:], 16000)
	binary.LittleEndian.PutUint16(data[32:], 2)
	binary.LittleEndian.PutUint16(data[34:], 16)
	copy(data[36:], "data")
	binary.LittleEndian.PutUint32(data[40:], uint32(2*n))
	for i := 0; i < n; i++ {
		v := int16(8000 * math.Sin(2*math.Pi*hz*float64(i)/8000))
		binary.LittleEndian.PutUint16(data[44+2*i:], uint16(v))
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
