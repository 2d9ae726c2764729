// Package fmaroof measures a CPU's fused multiply-add roof: the GFLOP/s of a loop of
// independent vector FMAs with no memory traffic, the most any float32 GEMM kernel on
// these cores can reach. fcn bench prints it beside its GEMM row.
package fmaroof

import (
	"errors"
	"runtime"
	"sync"
	"time"
)

// loop is an FMA loop for one instruction set: run(n) does n iterations of flopsPerIter
// FLOPs and returns lanesSum·n.
type loop struct {
	isa          string
	run          func(n int) float32
	flopsPerIter float64
	lanesSum     float32
}

// chunk is the iterations of one call, a fraction of a millisecond, so the deadline is
// checked often without its cost showing.
const chunk = 1 << 14

// ErrUnsupported is returned where no FMA loop exists for the CPU (not amd64, or an
// amd64 without AVX2 and FMA).
var ErrUnsupported = errors.New("fmaroof: no FMA loop for this CPU (needs amd64 with AVX2+FMA or AVX-512)")

// Roof runs the FMA loop on threads goroutines, each on its own OS thread, for about d,
// and returns the FLOPs per second over all of them and the instruction set used. It
// needs GOMAXPROCS ≥ threads to measure threads cores.
func Roof(threads int, d time.Duration) (gflops float64, isa string, err error) {
	l, ok := pickLoop()
	if !ok {
		return 0, "", ErrUnsupported
	}
	if threads < 1 {
		return 0, "", errors.New("fmaroof: threads must be ≥ 1")
	}
	iters := make([]int, threads)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for t := range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			for time.Now().Before(deadline) {
				l.run(chunk)
				iters[t] += chunk
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	total := 0
	for _, n := range iters {
		total += n
	}
	return float64(total) * l.flopsPerIter / elapsed / 1e9, l.isa, nil
}
