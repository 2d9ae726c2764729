package train

import (
	"fmt"
	"sync"
)

// LocalComms returns n communicators whose ranks are goroutines of this process: each
// collective waits for all n ranks and combines their buffers in rank order (sums are
// ((r0 + r1) + r2) + …, the same bits on every rank). It runs data-parallel training
// without MPI, for tests and for checking a configuration's sharding. Abort on any rank
// makes every collective, pending or later, fail.
func LocalComms(n int) []Comm {
	g := &localGroup{n: n, slots: make([]any, n)}
	g.cond = sync.NewCond(&g.mu)
	cs := make([]Comm, n)
	for r := range cs {
		cs[r] = &localComm{g: g, rank: r}
	}
	return cs
}

type localGroup struct {
	n       int
	mu      sync.Mutex
	cond    *sync.Cond
	slots   []any // contributions to the collective under way
	arrived int
	gen     int   // collectives completed
	result  []any // the contributions of the last completed collective
	aborted error
}

// exchange deposits v as rank's contribution and returns every rank's, once all arrived.
func (g *localGroup) exchange(rank int, v any) ([]any, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.aborted != nil {
		return nil, g.aborted
	}
	gen := g.gen
	g.slots[rank] = v
	g.arrived++
	if g.arrived == g.n {
		g.result, g.slots = g.slots, make([]any, g.n)
		g.arrived = 0
		g.gen++
		g.cond.Broadcast()
		return g.result, nil
	}
	for gen == g.gen && g.aborted == nil {
		g.cond.Wait()
	}
	if gen == g.gen {
		return nil, g.aborted
	}
	return g.result, nil
}

type localComm struct {
	g    *localGroup
	rank int
}

func (c *localComm) Rank() int { return c.rank }
func (c *localComm) Size() int { return c.g.n }

func (c *localComm) AllreduceSum32(buf []float32) error {
	vs, err := c.g.exchange(c.rank, append([]float32(nil), buf...))
	if err != nil {
		return err
	}
	return sumInto(buf, vs)
}

func (c *localComm) AllreduceSum64(buf []float64) error {
	vs, err := c.g.exchange(c.rank, append([]float64(nil), buf...))
	if err != nil {
		return err
	}
	return sumInto(buf, vs)
}

// sumInto sets buf to the rank-order sum of the contributions vs.
func sumInto[T float32 | float64](buf []T, vs []any) error {
	for r, v := range vs {
		x := v.([]T)
		if len(x) != len(buf) {
			return fmt.Errorf("allreduce: rank %d gave %d values, this rank %d", r, len(x), len(buf))
		}
	}
	for i := range buf {
		s := vs[0].([]T)[i]
		for _, v := range vs[1:] {
			s += v.([]T)[i]
		}
		buf[i] = s
	}
	return nil
}

func (c *localComm) Allgather(send, recv []byte) error {
	vs, err := c.g.exchange(c.rank, append([]byte(nil), send...))
	if err != nil {
		return err
	}
	if len(recv) != len(vs)*len(send) {
		return fmt.Errorf("allgather: receive buffer of %d bytes for %d ranks × %d", len(recv), len(vs), len(send))
	}
	for r, v := range vs {
		x := v.([]byte)
		if len(x) != len(send) {
			return fmt.Errorf("allgather: rank %d sent %d bytes, this rank %d", r, len(x), len(send))
		}
		copy(recv[r*len(send):], x)
	}
	return nil
}

func (c *localComm) Bcast(buf []byte, root int) error {
	vs, err := c.g.exchange(c.rank, append([]byte(nil), buf...))
	if err != nil {
		return err
	}
	if root < 0 || root >= len(vs) {
		return fmt.Errorf("bcast: root %d of %d ranks", root, len(vs))
	}
	x := vs[root].([]byte)
	if len(x) != len(buf) {
		return fmt.Errorf("bcast: root sent %d bytes, this rank expects %d", len(x), len(buf))
	}
	copy(buf, x)
	return nil
}

func (c *localComm) Barrier() error {
	_, err := c.g.exchange(c.rank, nil)
	return err
}

// Abort makes every collective of every rank fail from now on.
func (c *localComm) Abort(code int) {
	g := c.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.aborted == nil {
		g.aborted = fmt.Errorf("rank %d aborted the job (code %d)", c.rank, code)
	}
	g.cond.Broadcast()
}
