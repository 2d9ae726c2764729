package layers

import (
	"runtime"
	"sync"

	"github.com/fcn-dev/fcn/internal/par"
	"github.com/fcn-dev/fcn/layers/internal/gemm"
	"github.com/fcn-dev/fcn/layers/internal/im2col"
	"gorgonia.org/tensor"
)

// The image-parallel paths of conv (conv_images.go) and deconv (deconv_images.go) run
// one task per image (forward) or per slot of images (backward), each on one goroutine
// with its own column block of about 1 MiB and single-threaded GEMMs (gemm.GemmSerial),
// so a block stays in the core's L2 from im2col to the GEMM. For the small products of
// an FCN's early stages and of its transposed convolutions (21–64 rows), the blocked
// path, which splits every step of multi-MiB blocks among the threads, was bound by the
// memory traffic of those blocks. Every product is the blocked path's element for
// element, so forwards are bit-identical to it; weight gradients are summed over
// imageSlots partials in slot order (slotPartials), the same whatever the thread count.

const (
	// imageCols is the target size of a task's column block (elements).
	imageCols = 1 << 18
	// imageMaxBuf bounds a task's buffer and the slots' partial sums (elements): larger
	// shapes take the blocked path, whose blocks are cut to size.
	imageMaxBuf = 1 << 20
	// imageSlots is the number of weight-gradient partial sums of a backward, and so
	// its parallelism: fixed, so that the sum's order never depends on the thread count.
	imageSlots = 8
)

// imageRows is the number of window rows per column block of krows rows and ow
// columns per window row, of oh window rows in all.
func imageRows(krows, ow, oh int) int {
	return max(1, min(oh, imageCols/(krows*ow)))
}

// eachColumnBlock lowers images first, first+step, … (below n, imSz elements apart in
// im) window rows at a time, rows rows per block, into col (leading dimension the
// block's column count), and calls f with each block's image, first window row and
// column count.
func eachColumnBlock[T Float](g im2col.Geom, im []T, imSz, first, step, n, rows int, col []T, f func(img, r0, cols int)) {
	for img := first; img < n; img += step {
		for r0 := 0; r0 < g.OH; r0 += rows {
			r1 := min(r0+rows, g.OH)
			cols := (r1 - r0) * g.OW
			im2col.Im2ColPart(g, im[img*imSz:], col, cols, 0, g.C, r0, r1)
			f(img, r0, cols)
		}
	}
}

// slotPartials holds the per-slot weight-gradient sums of an image-parallel backward.
type slotPartials[T Float] struct {
	slots, size int
	storage     []T
	// The sum in progress (sum's tasks).
	dst  []T
	perm []int32
	add  bool
	run  int
}

// reset prepares slots sums of size elements each (size 0: no weight gradient).
func (p *slotPartials[T]) reset(slots, size int) {
	p.slots, p.size = slots, size
	if cap(p.storage) < slots*size {
		p.storage = make([]T, slots*size)
	}
}

// slot returns slot s's sum, zeroed (nil when there is no weight gradient).
func (p *slotPartials[T]) slot(s int) []T {
	part := p.slotUnzeroed(s)
	clear(part)
	return part
}

// slotUnzeroed returns slot s's sum as the last backward left it, for a task whose
// first product writes it whole (beta 0) instead of adding onto zeros: a pass fewer.
func (p *slotPartials[T]) slotUnzeroed(s int) []T {
	if p.size == 0 {
		return nil
	}
	return p.storage[s*p.size : (s+1)*p.size]
}

// sumInto writes (add: adds) the slots' sum into dst, adding them in slot order.
func (p *slotPartials[T]) sumInto(dst []T, add bool) {
	p.sum(dst, nil, add)
}

// sumIntoPermuted adds the slots' sum into dst as sumInto does, each slot's element
// q·k + r going to dst[q·k + perm[r]] (the sums of a product whose columns were
// permuted).
func (p *slotPartials[T]) sumIntoPermuted(dst []T, perm []int32) {
	p.sum(dst, perm, true)
}

// sum runs sumInto or sumIntoPermuted in parallel over runs of whole rows of k =
// len(perm) elements (or of sumRun), each run adding the slots in slot order: every
// element's sum is the serial one's.
func (p *slotPartials[T]) sum(dst []T, perm []int32, add bool) {
	if p.size == 0 {
		return
	}
	run := sumRun
	if perm != nil {
		run = max(1, sumRun/len(perm)) * len(perm)
	}
	p.dst, p.perm, p.add, p.run = dst, perm, add, run
	par.Run((p.size+run-1)/run, p)
	p.dst, p.perm = nil, nil
}

// sumRun is the elements of a task of sum.
const sumRun = 1 << 14

func (p *slotPartials[T]) Do(t int) {
	lo, hi := t*p.run, min((t+1)*p.run, p.size)
	dst := p.dst[lo:hi]
	if !p.add {
		clear(dst)
	}
	for s := range p.slots {
		part := p.storage[s*p.size+lo : s*p.size+hi]
		if p.perm == nil {
			for i, v := range part {
				dst[i] += v
			}
			continue
		}
		k := len(p.perm)
		for q := 0; q < len(part); q += k {
			d, src := dst[q:q+k], part[q:q+k]
			for r, v := range src {
				d[p.perm[r]] += v
			}
		}
	}
}

// bufPool lends per-task buffers, all of at least size elements (the largest any
// task of the layer asks for at its current shapes, set in Setup), so any buffer serves
// any task. When it has none it makes GOMAXPROCS at once (par.Run runs at most that many
// tasks at a time), so a steady state never allocates, however the first calls happened
// to be scheduled.
type bufPool[T Float] struct {
	mu   sync.Mutex
	free [][]T
	size int
}

// setSize sets the buffers' size; smaller buffers lent before are dropped as they
// come back.
func (p *bufPool[T]) setSize(n int) {
	p.mu.Lock()
	p.size = n
	p.mu.Unlock()
}

func (p *bufPool[T]) get(n int) []T {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k := len(p.free); k > 0; k = len(p.free) {
		b := p.free[k-1]
		p.free = p.free[:k-1]
		if cap(b) >= n {
			return b[:n]
		}
	}
	size := max(n, p.size)
	for range runtime.GOMAXPROCS(0) - 1 {
		p.free = append(p.free, make([]T, size))
	}
	return make([]T, size)[:n]
}

func (p *bufPool[T]) put(b []T) {
	p.mu.Lock()
	if cap(b) >= p.size {
		p.free = append(p.free, b)
	}
	p.mu.Unlock()
}

// imageSlotsOf is the number of slots of a backward over n images.
func imageSlotsOf(n int) int { return min(n, imageSlots) }

// reserveGemm fills the GEMM's free lists for dt: the tasks' GemmSerial calls on every
// core at once, and a parallel product of the blocked paths.
func reserveGemm(dt tensor.Dtype) {
	n := 2 * runtime.GOMAXPROCS(0)
	if dt == tensor.Float32 {
		gemm.Reserve[float32](n)
	} else {
		gemm.Reserve[float64](n)
	}
}
