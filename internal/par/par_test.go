package par

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// countTasks counts how often each task ran.
type countTasks struct {
	runs []atomic.Int32
	spin int
}

func (c *countTasks) Do(i int) {
	for k := 0; k < c.spin; k++ {
		runtime.Gosched()
	}
	c.runs[i].Add(1)
}

// Run runs every task exactly once, call after call on the same recycled jobs,
// whatever the thread count, with helpers that wake up late; a lost or doubled
// completion would hang a later call or run a task twice.
func TestRunEachTaskOnce(t *testing.T) {
	for _, procs := range []int{1, 2, 4} {
		func() {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			done := make(chan struct{})
			go func() {
				defer close(done)
				for call := range 50000 {
					// Alternate few and many tasks: a helper left over from a small call
					// must not take a task of the big one after it.
					n := 1 + call%3
					if call%2 == 1 {
						n = 40
					}
					c := &countTasks{runs: make([]atomic.Int32, n), spin: call % 2}
					RunOn(1+call%4, n, c)
					for i := range c.runs {
						if got := c.runs[i].Load(); got != 1 {
							t.Errorf("procs %d call %d: task %d of %d ran %d times", procs, call, i, n, got)
							return
						}
					}
				}
			}()
			select {
			case <-done:
			case <-time.After(60 * time.Second):
				t.Fatalf("procs %d: Run hung", procs)
			}
		}()
	}
}

// nested runs an inner Run from each of its tasks, as a layer's image task running a
// parallel product does.
type nested struct{ inner []countTasks }

func (n *nested) Do(i int) { Run(len(n.inner[i].runs), &n.inner[i]) }

// Runs nested in tasks, from several goroutines at once, finish, each task once.
func TestRunNested(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	done := make(chan struct{})
	go func() {
		defer close(done)
		errs := make(chan string, 3)
		for g := range 3 {
			go func() {
				for call := range 2000 {
					n := &nested{inner: make([]countTasks, 1+(call+g)%5)}
					for i := range n.inner {
						n.inner[i].runs = make([]atomic.Int32, 1+i*3)
					}
					Run(len(n.inner), n)
					for i := range n.inner {
						for k := range n.inner[i].runs {
							if got := n.inner[i].runs[k].Load(); got != 1 {
								errs <- "an inner task did not run exactly once"
								return
							}
						}
					}
				}
				errs <- ""
			}()
		}
		for range 3 {
			if e := <-errs; e != "" {
				t.Error(e)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("nested Run hung")
	}
}
