// Package par is the worker pool of fcn's layers and of their matrix multiply: work
// cut into independent tasks, shared between the calling goroutine and helpers that
// live as long as the process.
//
// Run never makes the caller wait for a helper to arrive, only for tasks already taken
// to finish, so calls may nest (a task may call Run) and run from several goroutines at
// once without deadlock. Tasks are taken in index order, each exactly once. Which
// goroutine runs a task must not change its result: callers cut work by shapes only,
// so results are the same bit for bit whatever GOMAXPROCS is. A steady-state call
// allocates nothing.
package par

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Tasks is work cut into tasks: Do(i) for i in [0, n) may run on any goroutine, and
// Do(i) starts only after Do(j) has started for every j < i (a task may wait for an
// earlier one to finish, never for a later one).
type Tasks interface{ Do(i int) }

// Run runs t.Do(0), …, t.Do(n−1) on up to GOMAXPROCS goroutines, the caller's
// included, and returns when all are done.
func Run(n int, t Tasks) { RunOn(runtime.GOMAXPROCS(0), n, t) }

// RunOn is Run on at most threads goroutines, the caller's included.
func RunOn(threads, n int, t Tasks) {
	helpers := min(n, threads, runtime.GOMAXPROCS(0)) - 1
	if helpers <= 0 {
		for i := range n {
			t.Do(i)
		}
		return
	}
	for {
		w := workers.Load()
		if int(w) >= helpers {
			break
		}
		if workers.CompareAndSwap(w, w+1) {
			go worker()
		}
	}
	free.Lock()
	if len(free.jobs) == 0 {
		// As many jobs as can be in flight at once (one per goroutine that may call
		// Run, the caller's and each task's), made together: a steady state then
		// never allocates, however the first nested calls happened to overlap.
		for range runtime.GOMAXPROCS(0) + 1 {
			free.jobs = append(free.jobs, &job{fin: make(chan struct{}, 1)})
		}
	}
	j := free.jobs[len(free.jobs)-1]
	free.jobs = free.jobs[:len(free.jobs)-1]
	free.Unlock()
	// Close the job to helpers of any generation before touching it (a helper of the
	// last one may still be between reading next and its compare-and-swap), set it up,
	// then open the new generation.
	gen := j.next.Load()>>32 + 1
	j.next.Store(gen<<32 | closed)
	j.t = t
	j.n.Store(int64(n))
	j.done.Store(0)
	j.next.Store(gen << 32)
	for range helpers {
		select {
		case queue <- ticket{j, gen}:
		default: // queue full: make do with fewer helpers
		}
	}
	j.work(gen)
	<-j.fin
	j.t = nil
	free.Lock()
	free.jobs = append(free.jobs, j)
	free.Unlock()
}

// job is the state of one Run call that its goroutines share. Jobs are reused: next
// holds the call's generation in its upper 32 bits and the next task in the lower, and
// a helper takes a task only by a compare-and-swap on next in the generation it was
// called for, so a helper that wakes up after its call has returned (and the job has
// moved on to another) takes nothing and reads nothing else.
type job struct {
	t    Tasks
	n    atomic.Int64
	next atomic.Uint64
	done atomic.Int64
	fin  chan struct{} // receives once per call, from whoever finishes the last task
}

// closed in the task half of job.next means no task may be taken.
const closed = 1<<32 - 1

// ticket asks a helper to join generation gen of job j.
type ticket struct {
	j   *job
	gen uint64
}

// The helpers: goroutines started on first need (at most GOMAXPROCS−1 at once are
// asked to help) that live as long as the process. Jobs are recycled through a free
// list, so a steady-state call allocates nothing.
var (
	queue   = make(chan ticket, 256)
	workers atomic.Int32
	free    struct {
		sync.Mutex
		jobs []*job
	}
)

func worker() {
	for tk := range queue {
		tk.j.work(tk.gen)
	}
}

// work takes and runs tasks of generation gen until none are left.
func (j *job) work(gen uint64) {
	for {
		cur := j.next.Load()
		if cur>>32 != gen {
			return // the call is over
		}
		i := int64(cur & (1<<32 - 1))
		n := j.n.Load()
		if i >= n {
			return
		}
		if !j.next.CompareAndSwap(cur, cur+1) {
			continue
		}
		// Task i of this generation is ours: the call cannot end before it is done,
		// so t is still this call's.
		j.t.Do(int(i))
		if j.done.Add(1) == n {
			j.fin <- struct{}{}
		}
	}
}
