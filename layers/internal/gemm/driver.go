package gemm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/fcn-dev/fcn/internal/par"
)

// kernel is a register-tiled micro-kernel with the cache blocking that suits it.
type kernel[T Float] struct {
	name   string
	mr, nr int // register tile: mr rows of A (broadcast) × nr columns of B (vectors)
	// kc and nc block the product for the caches: a kc×nc panel of packed B
	// stays in L2 while one mr×kc sliver of packed A at a time sits in L1.
	// mc bounds the rows of A packed at once when B is the shared operand.
	// mc is a multiple of mr and nc of nr.
	kc, mc, nc int
	// maxShared bounds the packed shared operand (elements); beyond it K is
	// cut into super-blocks.
	maxShared int
	// packA and packB replace the portable packing routines when non-nil.
	packA, packB packFunc[T]
	// tile computes a full mr×nr tile of C (see tileFunc).
	tile tileFunc[T]
	// edge computes the top-left rows×cols of a tile; nil means the driver goes
	// through a scratch tile with tile.
	edge edgeFunc[T]
	// balanced spreads a block's rows evenly over its A slivers (see sliver): for
	// kernels whose edge tiles are as fast as whole ones.
	balanced bool
}

// tileFunc computes C[i][j] = alpha·Σ_p a[p·mr+i]·b[p·nr+j] + beta·C[i][j] over
// p < kc for an mr×nr tile of C (row stride ldc), from packed slivers a (kc×mr)
// and b (kc×nr). beta == 0 must not read C.
type tileFunc[T Float] func(kc int, a, b, c []T, ldc int, alpha, beta T)

// packFunc packs a block of op(A) (rows [r0,r0+rows) × k [p0,p0+kc)) into
// slivers of w rows, or of op(B) (k [p0,p0+kc) × columns [r0,r0+rows)) into
// slivers of w columns, each sliver k-major and zero-padded; see packA, packB.
type packFunc[T Float] func(trans bool, src []T, ld, r0, p0, rows, kc, w int, dst []T)

// edgeFunc is tileFunc for the top-left rows×cols of the tile only.
type edgeFunc[T Float] func(rows, cols, kc int, a, b, c []T, ldc int, alpha, beta T)

// packedA packs rows [i0,i0+rows) of op(A) into the slivers of sliver(rows, ·), each
// at dst[s·mr·kc:] and padded to mr rows.
func (kn *kernel[T]) packedA(trans bool, a []T, lda, i0, p0, rows, kc int, dst []T) {
	if !kn.balanced || rows%kn.mr == 0 {
		kn.packSlivers(trans, a, lda, i0, p0, rows, kc, dst)
		return
	}
	for s := range ceilDiv(rows, kn.mr) {
		r, h := kn.sliver(rows, s)
		kn.packSlivers(trans, a, lda, i0+r, p0, h, kc, dst[s*kn.mr*kc:(s+1)*kn.mr*kc])
	}
}

// packSlivers packs rows [i0,i0+rows) of op(A) into slivers of mr rows, the last one
// padded.
func (kn *kernel[T]) packSlivers(trans bool, a []T, lda, i0, p0, rows, kc int, dst []T) {
	if kn.packA != nil {
		kn.packA(trans, a, lda, i0, p0, rows, kc, kn.mr, dst)
		return
	}
	packA(trans, a, lda, i0, p0, rows, kc, kn.mr, dst)
}

// sliver is the first row and the row count of sliver s of a block of m rows of A.
// Kernels whose edge tiles run in registers (balanced) spread the rows evenly over the
// ceil(m/mr) slivers: 32 rows as 11, 11 and 10 rather than 14, 14 and 4, whose thin
// last tile reads as much of B per row as a whole tile does for fourteen. The others
// fill slivers of mr and leave the rest to the last. Each row is computed the same
// way in any sliver, so the results do not depend on the split.
func (kn *kernel[T]) sliver(m, s int) (r0, rows int) {
	if !kn.balanced {
		return s * kn.mr, min(kn.mr, m-s*kn.mr)
	}
	n := ceilDiv(m, kn.mr)
	base, extra := m/n, m%n
	return s*base + min(s, extra), base + btoi(s < extra)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (kn *kernel[T]) packedB(trans bool, b []T, ldb, j0, p0, cols, kc int, dst []T) {
	if kn.packB != nil {
		kn.packB(trans, b, ldb, j0, p0, cols, kc, kn.nr, dst)
		return
	}
	packB(trans, b, ldb, j0, p0, cols, kc, kn.nr, dst)
}

// A product is computed as a sequence of tasks that the participating threads
// (par.RunOn) take in order:
//
//  1. pack tasks: the shared operand (A when C is split by columns, B when it
//     is split by rows) is packed whole, a group of slivers of one K block per
//     task;
//  2. chunk tasks: a chunk of columns (or rows) of C, which packs its own
//     panels of the other operand and reads the shared one.
//
// A task of stage 2 starts only when all of stage 1 is complete. When the
// shared operand would be too big to pack whole, K is cut into super-blocks
// and the two stages repeat for each. A thread never waits for another thread
// to arrive, only for tasks already taken to finish, so calls from several
// goroutines at once cannot deadlock on the shared workers.
//
// Chunk edges are multiples of the tile size and the K blocking depends only
// on k, so every element of C is computed by the same instructions in the
// same order whichever thread takes its chunk: results do not depend on the
// thread count or the scheduling. Taking chunks dynamically keeps both cores
// busy when one is slowed by other work.
type call[T Float] struct {
	kern           *kernel[T]
	transA, transB bool
	m, n, k        int
	kcb            int // K block length, from k only
	alpha, beta    T
	a              []T
	lda            int
	b              []T
	ldb            int
	c              []T
	ldc            int
	src            BSource[T] // B, when not a matrix (GemmSource)
	packed         []T        // op(A) packed beforehand (PackedA), when not nil

	byCols bool // split C by columns, sharing packed A; else by rows, sharing B
	shared []T  // a super-block of the shared operand, packed: K block after K block
	pad    int  // its rows (A) or columns (B), rounded up to the tile
	group  int  // slivers per pack task
	groups int  // pack tasks per K block
	kSuper int  // super-block length, a multiple of kcb
	chunk  int  // chunk width (byCols) or height, a multiple of nr (mr)
	chunks int
	tasks  int // in all
	mu     sync.Mutex
	cond   sync.Cond
	doneN  atomic.Int64 // tasks completed
}

// stage returns where task t belongs: its super-block's first K offset and
// length, whether it packs, its index within its stage, and the number of
// tasks that must be complete before it starts.
func (cl *call[T]) stage(t int) (k0, kLen int, pack bool, idx, after int) {
	blocks := cl.kSuper / cl.kcb
	stride := blocks*cl.groups + cl.chunks // tasks per full super-block
	sb := min(t/stride, ceilDiv(cl.k, cl.kSuper)-1)
	k0 = sb * cl.kSuper
	kLen = min(cl.kSuper, cl.k-k0)
	packs := ceilDiv(kLen, cl.kcb) * cl.groups
	r := t - sb*stride
	if r < packs {
		return k0, kLen, true, r, sb * stride
	}
	return k0, kLen, false, r - packs, sb*stride + packs
}

// Do runs task t once the tasks it depends on are complete (par.Tasks).
func (cl *call[T]) Do(t int) {
	k0, kLen, pack, idx, after := cl.stage(t)
	cl.waitFor(after)
	if pack {
		cl.packTask(k0, idx)
	} else {
		ws := getWorkspace(cl.kern)
		if cl.byCols {
			cl.columnChunk(ws, k0, kLen, idx*cl.chunk, min((idx+1)*cl.chunk, cl.n))
		} else {
			cl.rowChunk(ws, k0, kLen, idx*cl.chunk, min((idx+1)*cl.chunk, cl.m))
		}
		putWorkspace(ws)
	}
	cl.mu.Lock()
	cl.doneN.Add(1)
	cl.cond.Broadcast()
	cl.mu.Unlock()
}

// waitFor returns once n tasks are complete. Tasks of a stage wait for the
// stages before them, so n complete tasks means the first n are.
func (cl *call[T]) waitFor(n int) {
	if cl.doneN.Load() >= int64(n) {
		return
	}
	cl.mu.Lock()
	for cl.doneN.Load() < int64(n) {
		cl.cond.Wait()
	}
	cl.mu.Unlock()
}

// packTask packs group g (of idx) of one K block of the super-block at k0.
func (cl *call[T]) packTask(k0, idx int) {
	kn := cl.kern
	w := kn.mr
	if !cl.byCols {
		w = kn.nr
	}
	blk, g := idx/cl.groups, idx%cl.groups
	pc := blk * cl.kcb // offset within the super-block
	kc := min(cl.kcb, cl.k-k0-pc)
	r0 := g * cl.group * w
	rows := min(cl.group*w, cl.pad-r0)
	base := pc*cl.pad + r0*kc
	dst := cl.shared[base : base+rows*kc]
	if cl.byCols {
		// Slivers [s0, s1) of the whole of A's rows, as block reads them.
		s0, s1 := r0/w, (r0+rows)/w
		for s := s0; s < s1; s++ {
			r, h := kn.sliver(cl.m, s)
			kn.packSlivers(cl.transA, cl.a, cl.lda, r, k0+pc, h, kc, dst[(s-s0)*w*kc:(s-s0+1)*w*kc])
		}
	} else {
		cl.packB(r0, k0+pc, min(rows, cl.n-r0), kc, dst)
	}
}

// packB packs columns [j0,j0+cols) × k [p0,p0+kc) of B, from the matrix or the source.
func (cl *call[T]) packB(j0, p0, cols, kc int, dst []T) {
	if cl.src != nil {
		cl.src.PackB(j0, p0, cols, kc, cl.kern.nr, dst)
		return
	}
	cl.kern.packedB(cl.transB, cl.b, cl.ldb, j0, p0, cols, kc, dst)
}

// columnChunk computes columns [j0,j1) of C (j1-j0 ≤ nc) for the K range
// [k0,k0+kLen) from the shared packed A.
func (cl *call[T]) columnChunk(ws *workspace[T], k0, kLen, j0, j1 int) {
	kn := cl.kern
	nc := j1 - j0
	for pc := 0; pc < kLen; pc += cl.kcb {
		kc := min(cl.kcb, kLen-pc)
		bp := ws.b[:ceilDiv(nc, kn.nr)*kn.nr*kc]
		cl.packB(j0, k0+pc, nc, kc, bp)
		ap := cl.shared[pc*cl.pad : pc*cl.pad+cl.pad*kc]
		cl.block(ws, ap, bp, 0, cl.m, j0, nc, kc, cl.betaAt(k0+pc))
	}
	if cl.src != nil && k0+kLen == cl.k {
		cl.src.Finish(cl.c, cl.ldc, 0, cl.m, j0, nc)
	}
}

// rowChunk computes rows [i0,i1) of C (i1-i0 ≤ mc) for the K range
// [k0,k0+kLen) from the shared packed B.
func (cl *call[T]) rowChunk(ws *workspace[T], k0, kLen, i0, i1 int) {
	kn := cl.kern
	mc := i1 - i0
	for jc := 0; jc < cl.n; jc += kn.nc {
		nc := min(kn.nc, cl.n-jc)
		for pc := 0; pc < kLen; pc += cl.kcb {
			kc := min(cl.kcb, kLen-pc)
			ap := ws.a[:ceilDiv(mc, kn.mr)*kn.mr*kc]
			kn.packedA(cl.transA, cl.a, cl.lda, i0, k0+pc, mc, kc, ap)
			bp := cl.shared[pc*cl.pad+jc*kc : pc*cl.pad+(jc+ceilDiv(nc, kn.nr)*kn.nr)*kc]
			cl.block(ws, ap, bp, i0, mc, jc, nc, kc, cl.betaAt(k0+pc))
		}
		if cl.src != nil && k0+kLen == cl.k {
			cl.src.Finish(cl.c, cl.ldc, i0, mc, jc, nc)
		}
	}
}

// betaAt is the beta for the K block starting at pc: later blocks add onto
// what the first one wrote.
func (cl *call[T]) betaAt(pc int) T {
	if pc > 0 {
		return 1
	}
	return cl.beta
}

// block computes the mc×nc block of C at (i0, j0) from packed A (slivers of
// mr rows) and packed B (slivers of nr columns): one A sliver stays in L1
// while the B panel streams from L2.
func (cl *call[T]) block(ws *workspace[T], ap, bp []T, i0, mc, j0, nc, kc int, beta T) {
	kn := cl.kern
	mr, nr := kn.mr, kn.nr
	for s := range ceilDiv(mc, mr) {
		ir, rows := kn.sliver(mc, s)
		as := ap[s*mr*kc : (s+1)*mr*kc]
		c := cl.c[(i0+ir)*cl.ldc+j0:]
		for jr := 0; jr < nc; jr += nr {
			cols := min(nr, nc-jr)
			bs := bp[jr*kc : (jr+nr)*kc]
			switch {
			case rows == mr && cols == nr:
				kn.tile(kc, as, bs, c[jr:], cl.ldc, cl.alpha, beta)
			case kn.edge != nil:
				kn.edge(rows, cols, kc, as, bs, c[jr:], cl.ldc, cl.alpha, beta)
			default:
				cl.edgeScratch(ws.scratch, rows, cols, kc, as, bs, c[jr:], beta)
			}
		}
	}
}

// edgeScratch computes a partial tile through a full one: C's part is copied
// into the scratch tile, the kernel updates it with the same arithmetic as any
// other tile, and the part is copied back.
func (cl *call[T]) edgeScratch(s []T, rows, cols, kc int, a, b, c []T, beta T) {
	nr := cl.kern.nr
	if beta != 0 {
		for i := 0; i < rows; i++ {
			copy(s[i*nr:i*nr+cols], c[i*cl.ldc:i*cl.ldc+cols])
		}
	}
	cl.kern.tile(kc, a, b, s, nr, cl.alpha, beta)
	for i := 0; i < rows; i++ {
		copy(c[i*cl.ldc:i*cl.ldc+cols], s[i*nr:i*nr+cols])
	}
}

// Free lists of per-call state and packing buffers. Unlike sync.Pool they are
// not emptied by the garbage collector, so a steady state never reallocates
// the (megabyte-sized) panels; they hold at most as many of each as were ever
// in use at once.
var (
	calls32 freeList[call[float32]]
	calls64 freeList[call[float64]]
	work32  freeList[workspace[float32]]
	work64  freeList[workspace[float64]]
)

type freeList[E any] struct {
	mu    sync.Mutex
	items []*E
}

func (f *freeList[E]) get() *E {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.items); n > 0 {
		e := f.items[n-1]
		f.items = f.items[:n-1]
		return e
	}
	return new(E)
}

func (f *freeList[E]) put(e *E) {
	f.mu.Lock()
	f.items = append(f.items, e)
	f.mu.Unlock()
}

func lists[T Float]() (*freeList[call[T]], *freeList[workspace[T]]) {
	var z T
	if unsafe.Sizeof(z) == 4 {
		return any(&calls32).(*freeList[call[T]]), any(&work32).(*freeList[workspace[T]])
	}
	return any(&calls64).(*freeList[call[T]]), any(&work64).(*freeList[workspace[T]])
}

// workspace holds one thread's packed panels.
type workspace[T Float] struct {
	a, b, scratch []T
}

func getWorkspace[T Float](kn *kernel[T]) *workspace[T] {
	_, work := lists[T]()
	ws := work.get()
	ws.a = grow(ws.a, kn.mc*kn.kc)
	ws.b = grow(ws.b, kn.kc*kn.nc)
	ws.scratch = grow(ws.scratch, kn.mr*kn.nr)
	return ws
}

// Reserve makes sure the free lists hold at least n products' state and n threads'
// packing buffers of element type T for the default kernel, so that up to n products
// running at once (one per image on each core, say) do not allocate the first time
// they do. Products still grow a call's shared panel on first use at a larger size.
func Reserve[T Float](n int) {
	var z T
	if unsafe.Sizeof(z) == 4 {
		reserve(defaultKernel.k32, n)
	} else {
		reserve(portable64, n)
	}
}

func reserve[T Float](kn *kernel[T], n int) {
	if kn == nil || defaultKernel.k32 == nil {
		return // the naive reference keeps no state
	}
	calls, work := lists[T]()
	cs := make([]*call[T], n)
	ws := make([]*workspace[T], n)
	for i := range n {
		cs[i], ws[i] = calls.get(), getWorkspace(kn)
	}
	for i := range n {
		calls.put(cs[i])
		work.put(ws[i])
	}
}

func putWorkspace[T Float](ws *workspace[T]) {
	_, work := lists[T]()
	work.put(ws)
}

// grow returns s if it holds n elements, else a new slice of n elements whose
// first element is 64-byte aligned, so packed vectors never straddle cache lines.
func grow[T Float](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	var z T
	per := 64 / int(unsafe.Sizeof(z))
	s = make([]T, n+per)
	off := int(uintptr(unsafe.Pointer(&s[0]))%64) / int(unsafe.Sizeof(z))
	if off != 0 {
		s = s[per-off:]
	}
	return s[:n:n]
}

// minWork is the multiply-add count per thread below which a product uses
// fewer threads: waking a worker costs a few microseconds.
const minWork = 1 << 18

// chunksPerThread is how many chunks each thread gets on average, so that a
// thread slowed by other work leaves its share to the others.
const chunksPerThread = 4

// defaultMaxShared is the usual kernel.maxShared: 16 MiB of float32.
const defaultMaxShared = 1 << 22

// run computes C = alpha·op(A)·op(B) + beta·C with kn over GOMAXPROCS threads.
// serial runs the product on the calling goroutine alone.
func run[T Float](kn *kernel[T], serial, transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	calls, _ := lists[T]()
	cl := calls.get()
	cl.src = nil
	cl.start(kn, serial, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	calls.put(cl)
}

// runSource is run with B packed by src.
func runSource[T Float](kn *kernel[T], serial, transA bool, m, n, k int, alpha T, a []T, lda int, src BSource[T], beta T, c []T, ldc int) {
	checkArgsA(transA, m, n, k, a, lda, c, ldc)
	calls, _ := lists[T]()
	cl := calls.get()
	cl.src = src
	cl.start(kn, serial, transA, false, m, n, k, alpha, a, lda, nil, 0, beta, c, ldc)
	cl.src = nil
	calls.put(cl)
}

// start runs the product described by its arguments on cl.
func (cl *call[T]) start(kn *kernel[T], serial, transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	cl.kern, cl.transA, cl.transB, cl.m, cl.n, cl.k = kn, transA, transB, m, n, k
	cl.alpha, cl.beta, cl.a, cl.lda, cl.b, cl.ldb, cl.c, cl.ldc = alpha, beta, a, lda, b, ldb, c, ldc
	cl.kcb = ceilDiv(k, ceilDiv(k, kn.kc)) // equal K blocks: no thin last block

	threads := max(1, min(runtime.GOMAXPROCS(0), m*n*k/minWork))
	if serial {
		threads = 1
	}
	tm, tn := ceilDiv(m, kn.mr), ceilDiv(n, kn.nr)
	// Split by columns, sharing A, unless there are too few columns to keep
	// the threads busy and more rows; always with A packed beforehand (the split
	// does not change the results, only who computes which tile).
	cl.byCols = tn >= 2*threads || tn >= tm || cl.packed != nil
	w := kn.mr
	if cl.byCols {
		cl.pad = tm * kn.mr
		per := ceilDiv(tn, threads*chunksPerThread)
		if threads == 1 {
			per = tn
		}
		// Chunks of up to 16 slivers while every thread gets one, so that each A
		// sliver, loaded into L1 for a chunk, serves many tiles (at 4, a 1024³
		// product ran at 81% of the FMA roof here, at 16 at 85–87%); at most nc
		// columns, so the B panel fits in L2.
		cl.chunk = min(max(per, min(16, ceilDiv(tn, threads))), kn.nc/kn.nr) * kn.nr
		cl.chunks = ceilDiv(n, cl.chunk)
	} else {
		w = kn.nr
		cl.pad = tn * kn.nr
		per := ceilDiv(tm, threads*chunksPerThread)
		if threads == 1 {
			per = tm
		}
		cl.chunk = min(max(per, 2), kn.mc/kn.mr) * kn.mr
		cl.chunks = ceilDiv(m, cl.chunk)
	}
	cl.kSuper = max(1, kn.maxShared/(cl.pad*cl.kcb)) * cl.kcb
	own := cl.shared
	if cl.packed != nil {
		// A is packed already, whole: no pack tasks, one super-block.
		cl.kSuper, cl.shared = ceilDiv(k, cl.kcb)*cl.kcb, cl.packed
	} else {
		cl.shared = grow(cl.shared, cl.pad*min(k, cl.kSuper))
	}
	cl.group = max(1, 128/w) // about 128 rows or columns per pack task
	cl.groups = ceilDiv(cl.pad, w*cl.group)
	if cl.packed != nil {
		cl.groups = 0
	}
	cl.tasks = ceilDiv(k, cl.kcb)*cl.groups + ceilDiv(k, cl.kSuper)*cl.chunks
	cl.doneN.Store(0)
	cl.cond.L = &cl.mu
	par.RunOn(min(threads, cl.chunks), cl.tasks, cl)
	cl.a, cl.b, cl.c = nil, nil, nil // keep no reference to the caller's data
	if cl.packed != nil {
		cl.shared, cl.packed = own, nil
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// packA copies rows [i0,i0+mc) × columns [p0,p0+kc) of op(A) into slivers of
// mr rows, each stored k-major (kc×mr), the last one padded with zeros.
func packA[T Float](trans bool, a []T, lda, i0, p0, mc, kc, mr int, dst []T) {
	for s := 0; s*mr < mc; s++ {
		d := dst[s*mr*kc : (s+1)*mr*kc]
		rows := min(mr, mc-s*mr)
		r0 := i0 + s*mr
		if trans {
			// op(A)(i,p) = a[p·lda+i]: each k step is a contiguous run.
			for p := 0; p < kc; p++ {
				dp := d[p*mr : p*mr+mr]
				copy(dp, a[(p0+p)*lda+r0:][:rows])
				clear(dp[rows:])
			}
			continue
		}
		// op(A)(i,p) = a[i·lda+p]: transpose rows into the sliver.
		for i := 0; i < rows; i++ {
			src := a[(r0+i)*lda+p0:][:kc]
			for p, v := range src {
				d[p*mr+i] = v
			}
		}
		for i := rows; i < mr; i++ {
			for p := 0; p < kc; p++ {
				d[p*mr+i] = 0
			}
		}
	}
}

// packB copies rows [p0,p0+kc) × columns [j0,j0+nc) of op(B) into slivers of
// nr columns, each stored k-major (kc×nr), the last one padded with zeros.
func packB[T Float](trans bool, b []T, ldb, j0, p0, nc, kc, nr int, dst []T) {
	for s := 0; s*nr < nc; s++ {
		d := dst[s*nr*kc : (s+1)*nr*kc]
		cols := min(nr, nc-s*nr)
		c0 := j0 + s*nr
		if !trans {
			// op(B)(p,j) = b[p·ldb+j]: each k step is a contiguous run.
			for p := 0; p < kc; p++ {
				dp := d[p*nr : p*nr+nr]
				copy(dp, b[(p0+p)*ldb+c0:][:cols])
				clear(dp[cols:])
			}
			continue
		}
		// op(B)(p,j) = b[j·ldb+p]: transpose rows of b into the sliver.
		for j := 0; j < cols; j++ {
			src := b[(c0+j)*ldb+p0:][:kc]
			for p, v := range src {
				d[p*nr+j] = v
			}
		}
		for j := cols; j < nr; j++ {
			for p := 0; p < kc; p++ {
				d[p*nr+j] = 0
			}
		}
	}
}

// checkArgs panics with a clear message when a slice is too short for the
// dimensions: the kernels read through raw pointers, so this guards memory.
func checkArgs[T Float](transA, transB bool, m, n, k int, a []T, lda int, b []T, ldb int, c []T, ldc int) {
	checkArgsA(transA, m, n, k, a, lda, c, ldc)
	if transB {
		checkMatrix("B", b, n, k, ldb)
	} else {
		checkMatrix("B", b, k, n, ldb)
	}
}

// checkArgsA is checkArgs for A and C alone (B comes from a BSource).
func checkArgsA[T Float](transA bool, m, n, k int, a []T, lda int, c []T, ldc int) {
	if transA {
		checkMatrix("A", a, k, m, lda)
	} else {
		checkMatrix("A", a, m, k, lda)
	}
	checkMatrix("C", c, m, n, ldc)
}

// checkMatrix panics unless s holds a rows×cols matrix with leading dimension ld.
func checkMatrix[T Float](name string, s []T, rows, cols, ld int) {
	if ld < cols {
		panic("gemm: leading dimension of " + name + " is smaller than its row length")
	}
	if len(s) < (rows-1)*ld+cols {
		panic("gemm: " + name + " is too short for its dimensions")
	}
}
