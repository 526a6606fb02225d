// The Go peer of bench_pipe.c: the same measurements with io.Pipe, so that
// bench/pipe.sh can print plumb's pipe next to Go's in one run.
//
// Modes (the arguments and the output lines are bench_pipe's):
//
//	throughput SIZE TOTAL [SECS]
//	                       a writer goroutine writes TOTAL bytes in writes of
//	                       SIZE bytes into an io.Pipe and closes it (or stops
//	                       early after SECS seconds, if given); the main
//	                       goroutine reads until io.EOF with a buffer of
//	                       max(SIZE, 32 KiB) (32 KiB is io.Copy's buffer)
//	pingpong COUNT         COUNT round trips of one byte between two
//	                       goroutines over two io.Pipes
//	memcpy SIZE TOTAL      copy() of SIZE bytes between the same two slices
//	                       until TOTAL bytes are copied
//
// others= is how many CPUs other processes kept busy meanwhile, as in C.
//
// Standard library only, so it builds offline with `go build`.
package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"time"
)

const readMin = 32 << 10

// load is the state of the machine at the start of a measurement.
type load struct {
	wall      time.Time
	own, busy float64 // seconds
}

const clkTck = 100 // USER_HZ, as in /proc/stat

// machineBusy is the machine's busy CPU time so far in seconds, or -1.
func machineBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return -1
	}
	var v [8]uint64
	if n, _ := fmt.Sscanf(string(b), "cpu %d %d %d %d %d %d %d %d",
		&v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]); n != 8 {
		return -1
	}
	// user nice system idle iowait irq softirq steal: all but idle, iowait
	return float64(v[0]+v[1]+v[2]+v[5]+v[6]+v[7]) / clkTck
}

func ownCPU() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func loadStart() load {
	return load{wall: time.Now(), own: ownCPU(), busy: machineBusy()}
}

// others is how many CPUs others kept busy since l, on average; -1 if unknown.
func (l load) others() float64 {
	busy, wall := machineBusy(), time.Since(l.wall).Seconds()
	if busy < 0 || l.busy < 0 || wall <= 0 {
		return -1
	}
	busy = (busy - l.busy) - (ownCPU() - l.own)
	if busy < 0 {
		return 0
	}
	return busy / wall
}

func die(what string, err error) {
	fmt.Fprintf(os.Stderr, "bench_pipe (go): %s: %v\n", what, err)
	os.Exit(1)
}

func filled(size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i*31 + 7)
	}
	return b
}

func parse(s string) uint64 {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v == 0 {
		fmt.Fprintf(os.Stderr, "bench_pipe (go): not a positive number: %s\n", s)
		os.Exit(2)
	}
	return v
}

func throughput(size int, total uint64, secsMax float64) {
	r, w := io.Pipe()
	rsize := size
	if rsize < readMin {
		rsize = readMin
	}
	buf := filled(rsize)
	werr := make(chan error, 1)
	l := loadStart()
	start := time.Now()
	deadline := time.Time{}
	if secsMax > 0 {
		deadline = start.Add(time.Duration(secsMax * float64(time.Second)))
	}
	go func() {
		src := filled(size)
		var err error
		// Look at the clock about every 16 MiB.
		every, k := uint64(16<<20)/uint64(size)+1, uint64(0)
		for done := uint64(0); done < total; done += uint64(size) {
			n := size
			if total-done < uint64(size) {
				n = int(total - done)
			}
			if _, err = w.Write(src[:n]); err != nil {
				break
			}
			k++
			if !deadline.IsZero() && k%every == 0 && time.Now().After(deadline) {
				break
			}
		}
		w.Close()
		werr <- err
	}()
	var got uint64
	var err error
	for {
		var n int
		n, err = r.Read(buf)
		got += uint64(n)
		if err != nil {
			break
		}
	}
	secs := time.Since(start).Seconds()
	if err != io.EOF {
		die("read", err)
	}
	if err := <-werr; err != nil {
		die("write", err)
	}
	if got != total && deadline.IsZero() {
		die("short transfer", io.ErrUnexpectedEOF)
	}
	fmt.Printf("impl=go mode=throughput size=%d read=%d bytes=%d seconds=%.4f gbps=%.3f others=%.2f\n",
		size, rsize, got, secs, float64(got)/secs/1e9, l.others())
}

func pingpong(count uint64) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	go func() {
		var c [1]byte
		for {
			if _, err := inR.Read(c[:]); err != nil {
				break
			}
			if _, err := outW.Write(c[:]); err != nil {
				break
			}
		}
		outW.Close()
	}()
	c := []byte{'x'}
	l := loadStart()
	start := time.Now()
	for i := uint64(0); i < count; i++ {
		if _, err := inW.Write(c); err != nil {
			die("ping-pong", err)
		}
		if n, err := outR.Read(c); n != 1 || err != nil {
			die("ping-pong", err)
		}
	}
	secs := time.Since(start).Seconds()
	inW.Close()
	fmt.Printf("impl=go mode=pingpong count=%d seconds=%.4f rtps=%.0f others=%.2f\n",
		count, secs, float64(count)/secs, l.others())
}

var sink []byte

func memcpy(size int, total uint64) {
	src, dst := filled(size), filled(size)
	n := total / uint64(size)
	l := loadStart()
	start := time.Now()
	for i := uint64(0); i < n; i++ {
		copy(dst, src)
	}
	secs := time.Since(start).Seconds()
	sink = dst
	fmt.Printf("impl=gocopy mode=memcpy size=%d bytes=%d seconds=%.4f gbps=%.3f others=%.2f\n",
		size, n*uint64(size), secs, float64(n*uint64(size))/secs/1e9, l.others())
}

func main() {
	a := os.Args[1:]
	switch {
	case (len(a) == 3 || len(a) == 4) && a[0] == "throughput":
		secs := 0.0
		if len(a) == 4 {
			secs = float64(parse(a[3]))
		}
		throughput(int(parse(a[1])), parse(a[2]), secs)
	case len(a) == 2 && a[0] == "pingpong":
		pingpong(parse(a[1]))
	case len(a) == 3 && a[0] == "memcpy":
		memcpy(int(parse(a[1])), parse(a[2]))
	default:
		fmt.Fprintln(os.Stderr, "usage: pipe throughput SIZE TOTAL [SECS] | pingpong COUNT | memcpy SIZE TOTAL")
		os.Exit(2)
	}
}
