package fmaroof

import (
	"errors"
	"testing"
	"time"
)

// The loop's result counts its iterations: every FMA adds 1·1 to an accumulator, so a
// loop that skipped iterations or accumulators would return less.
func TestLoopCountsIterations(t *testing.T) {
	l, ok := pickLoop()
	if !ok {
		t.Skip(ErrUnsupported)
	}
	for _, n := range []int{0, 1, 7, 1000} {
		if got, want := l.run(n), l.lanesSum*float32(n); got != want {
			t.Errorf("%s loop of %d iterations returned %v, want %v", l.isa, n, got, want)
		}
	}
}

func TestRoof(t *testing.T) {
	g, isa, err := Roof(1, 20*time.Millisecond)
	if errors.Is(err, ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	// A core of this decade does at least a few GFLOP/s of vector FMAs even when shared;
	// no core does 10 TFLOP/s.
	if g < 1 || g > 1e4 {
		t.Errorf("%s roof %.1f GFLOP/s on one thread: implausible", isa, g)
	}
	if _, _, err := Roof(0, time.Millisecond); err == nil {
		t.Error("Roof(0 threads) gave no error")
	}
}

func BenchmarkRoof(b *testing.B) {
	for range b.N {
		g, isa, err := Roof(1, 200*time.Millisecond)
		if err != nil {
			b.Skip(err)
		}
		b.ReportMetric(g, isa+"-GFLOP/s")
	}
}
