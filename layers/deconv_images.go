package layers

import (
	"runtime"
	"sync"

	"github.com/fcn-dev/fcn/layers/internal/gemm"
	"github.com/fcn-dev/fcn/layers/internal/im2col"
)

// Image-parallel deconvolution: the sub-pixel forward and the backward run one task
// per image (forward) or per run of images (backward), each task on one goroutine with
// its own cache-sized column buffer and single-threaded GEMMs, instead of every
// step of a block split among all threads.
//
// Why: on a transposed convolution's small per-image products (C_in or C_out rows of
// 21–64) the blocked path writes its column blocks, several MiB, out to memory and
// reads them back to pack them, and the time goes to memory traffic shared with the
// other cores; per image, a column block of ~1 MiB stays in the core's L2 from im2col
// to the GEMM. On the 2-core benchmark machine W3 (k4 s2, 64 channels, 8 images of
// 32×32) went from 26–30 ms forward+backward blocked to 21–25 ms per image, and from
// 52–60 to 66–81 GFLOP per CPU-second.
//
// Every product is the blocked path's, element for element (GemmSerial is Gemm), so
// the forward is bit-identical to it; the weight gradient sums per-slot partial
// products in a fixed order (see deconvBackImages), so it is the same whatever the
// thread count.

// deconvImageMaxBuf bounds one task's buffer (elements): larger images take the
// blocked path, whose blocks are cut to size.
const deconvImageMaxBuf = 1 << 20

// deconvImageSlots is the number of weight-gradient partial sums of the backward
// (and so its parallelism): fixed, so that the sum's order never depends on the
// number of threads.
const deconvImageSlots = 8

// bufPool lends per-task buffers, all of at least size elements (the largest any
// task of the layer asks for at its current shapes, set in Setup), so any buffer serves
// any task. When it has none it makes GOMAXPROCS at once (parRun runs at most that many
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

// phaseImageJob is the sub-pixel forward, one task per image.
type phaseImageJob[T Float] struct {
	l          *Deconv
	x, y       []T
	wsub, bias []T
	colN, zN   int // per-task buffer: the largest phase's column matrix, then every phase's output
	pool       bufPool[T]
}

// phaseImagesFit reports whether the per-image forward suits the layer's shapes, with
// the per-task buffer's parts.
func (l *Deconv) phaseImagesFit() (colN, zN int, ok bool) {
	if !l.subpixel || l.n < 2 {
		return 0, 0, false
	}
	for _, ph := range l.phases {
		colN = max(colN, ph.geom.Rows()*ph.geom.Cols())
		zN += l.sp.out * ph.geom.Cols()
	}
	return colN, zN, colN+zN <= deconvImageMaxBuf
}

func deconvForwardImages[T Float](l *Deconv, x, y []T, j *phaseImageJob[T], colN, zN int) {
	j.l, j.x, j.y, j.colN, j.zN = l, x, y, colN, zN
	j.wsub = deconvPhaseWeights[T](l)
	j.bias = nil
	if l.bias != nil {
		j.bias = convData[T](l.bias.Value)
	}
	zoff := 0
	for i := range l.phases {
		ph := &l.phases[i]
		ph.ld, ph.zoff = ph.geom.Cols(), zoff
		zoff += l.sp.out * ph.ld
	}
	parRun(l.n, j)
	j.x, j.y, j.wsub, j.bias = nil, nil, nil, nil
}

func (j *phaseImageJob[T]) do(n int) {
	l := j.l
	G := l.sp.groups
	Og := l.sp.out / G
	cin := l.inShape[1]
	Cg := cin / G
	inSz := cin * l.inShape[2] * l.inShape[3]
	buf := j.pool.get(j.colN + j.zN)
	col, z := buf[:j.colN], buf[j.colN:]
	for i := range l.phases {
		ph := &l.phases[i]
		th, tw := ph.geom.KH, ph.geom.KW
		if th == 0 || tw == 0 {
			continue // bias only
		}
		Kp := Cg * th * tw
		P := ph.geom.Cols()
		im2col.Im2ColPart(ph.geom, j.x[n*inSz:], col, P, 0, cin, 0, ph.geom.OH)
		for gi := range G {
			gemm.GemmSerial(false, false, Og, P, Kp,
				1, j.wsub[ph.woff+gi*Og*Kp:], Kp,
				col[gi*Kp*P:], P,
				0, z[ph.zoff+gi*Og*P:], P)
		}
	}
	il := phaseInterleave[T]{l: l, z: z, y: j.y, bias: j.bias, n0: n, cnt: 1}
	for o := range l.sp.out {
		il.do(o)
	}
	j.pool.put(buf)
}

// backImageJob is the backward, one task per slot: slot s takes images s, s+S, … in
// order and accumulates their weight gradient into its own partial sum.
type backImageJob[T Float] struct {
	l              *Deconv
	x, dy, dx, w   []T
	partial        []T // deconvImageSlots weight-gradient sums, or nil: no weight gradient
	slots          int
	rows, colN     int // window rows per column block, and the block's size
	pool           bufPool[T]
	partialStorage []T
}

// backImagesFit reports whether the per-image backward suits the layer's shapes,
// with the window rows of one column block.
func (l *Deconv) backImagesFit() (rows int, ok bool) {
	if l.pointwise || l.n < 2 {
		return 0, false
	}
	g := l.geom
	// Column blocks of about 1 MiB of float32: the core's L2 holds one with room.
	rows = max(1, min(g.OH, (1<<18)/(g.Rows()*g.OW)))
	wsize := l.weight.Value.Shape().TotalSize()
	return rows, rows*g.OW*g.Rows() <= deconvImageMaxBuf && wsize*deconvImageSlots <= deconvImageMaxBuf
}

func deconvBackImages[T Float](l *Deconv, x, dy, dx, dw []T, j *backImageJob[T], rows int) {
	j.l, j.x, j.dy, j.dx, j.w = l, x, dy, dx, convData[T](l.weight.Value)
	j.slots = min(l.n, deconvImageSlots)
	j.rows, j.colN = rows, rows*l.geom.OW*l.geom.Rows()
	j.partial = nil
	if dw != nil {
		if cap(j.partialStorage) < j.slots*len(dw) {
			j.partialStorage = make([]T, j.slots*len(dw))
		}
		j.partial = j.partialStorage[:j.slots*len(dw)]
	}
	parRun(j.slots, j)
	// The slots' sums, added in slot order.
	for s := range j.slots {
		for i, v := range j.partial[s*len(dw) : (s+1)*len(dw)] {
			dw[i] += v
		}
	}
	j.x, j.dy, j.dx, j.w = nil, nil, nil, nil
}

func (j *backImageJob[T]) do(s int) {
	l := j.l
	g := l.geom
	G := l.sp.groups
	K, M, P := l.dims()
	inSz, outSz := M*G*P, g.C*g.H*g.W
	var part []T
	if j.partial != nil {
		n := len(j.partial) / j.slots
		part = j.partial[s*n : (s+1)*n]
		clear(part)
	}
	col := j.pool.get(j.colN)
	for n := s; n < l.n; n += j.slots {
		for r0 := 0; r0 < g.OH; r0 += j.rows {
			r1 := min(r0+j.rows, g.OH)
			cols := (r1 - r0) * g.OW
			im2col.Im2ColPart(g, j.dy[n*outSz:], col, cols, 0, g.C, r0, r1)
			for gi := range G {
				if part != nil {
					gemm.GemmSerial(false, true, M, K, cols,
						1, j.x[n*inSz+gi*M*P+r0*g.OW:], P,
						col[gi*K*cols:], cols,
						1, part[gi*M*K:], K)
				}
				if j.dx != nil {
					gemm.GemmSerial(false, false, M, cols, K,
						1, j.w[gi*M*K:], K,
						col[gi*K*cols:], cols,
						1, j.dx[n*inSz+gi*M*P+r0*g.OW:], P)
				}
			}
		}
	}
	j.pool.put(col)
}

// setupImages sizes the per-task buffers of the image-parallel paths for the shapes
// of the last Setup.
func (l *Deconv) setupImages() {
	if colN, zN, ok := l.phaseImagesFit(); ok {
		l.img32.pool.setSize(colN + zN)
		l.img64.pool.setSize(colN + zN)
	}
	if rows, ok := l.backImagesFit(); ok {
		n := rows * l.geom.OW * l.geom.Rows()
		l.back32.pool.setSize(n)
		l.back64.pool.setSize(n)
	}
	gemm.Reserve(2 * runtime.GOMAXPROCS(0))
}
