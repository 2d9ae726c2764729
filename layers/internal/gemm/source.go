package gemm

import "unsafe"

// BSource is a product's B operand that is not held as a matrix: a convolution's
// column matrix, say, packed straight from the image instead of being written out by
// im2col and packed again. PackB writes rows [p0,p0+kc) × columns [j0,j0+cols) of B
// into ceil(cols/nr) slivers of nr columns, sliver s at dst[s·kc·nr:], each k-major
// (row p of the sliver at p·nr), the columns past cols zero.
//
// Finish is called once for each block of C (rows [i0,i0+rows) × columns
// [j0,j0+cols)) as soon as its sum is complete, while the block is still in cache: a
// convolution's fused ReLU, say, or nothing. Blocks are disjoint and cover C, and which
// blocks there are depends on the shapes alone.
//
// The driver calls both from several goroutines at once, for disjoint parts of dst and
// C, so a source must keep no state of its own between calls.
type BSource[T Float] interface {
	PackB(j0, p0, cols, kc, nr int, dst []T)
	Finish(c []T, ldc, i0, rows, j0, cols int)
}

// GemmSource computes C = alpha·op(A)·B + beta·C as Gemm does, with the k×n matrix B
// given by src, and then src.Finish on each block of C. T must be float32 or float64
// (not another type on them). It is Gemm's
// product bit for bit when src packs the matrix Gemm would have read: only the
// packing differs. serial runs it on the calling goroutine alone (as GemmSerial).
func GemmSource[T Float](serial, transA bool, m, n, k int, alpha T, a []T, lda int, src BSource[T], beta T, c []T, ldc int) {
	if m <= 0 || n <= 0 {
		return
	}
	if k <= 0 || alpha == 0 {
		scale(m, n, beta, c, ldc)
		src.Finish(c, ldc, 0, m, 0, n)
		return
	}
	kern := defaultKernel
	if kern.k32 == nil {
		// The naive reference reads B as a matrix: the whole of it, packed as one
		// sliver of n columns, is that matrix row-major.
		b := make([]T, k*n)
		src.PackB(0, 0, n, k, n, b)
		naive(transA, false, m, n, k, alpha, a, lda, b, n, beta, c, ldc)
		src.Finish(c, ldc, 0, m, 0, n)
		return
	}
	// The kernel's type is asserted (a comparison), not the source's: an assertion to
	// an interface type keeps a cache that allocates as it grows.
	runSource(sourceKernel[T](), serial, transA, m, n, k, alpha, a, lda, src, beta, c, ldc)
}

// PackedA is op(A) packed once for several products that share it, a convolution's
// weights against each image of a batch: GemmSourcePacked reads it instead of packing A
// again for every product. Its products are GemmSource's bit for bit.
type PackedA[T Float] struct {
	m, k   int
	data   []T // the packed slivers, K block after K block, as the driver packs A
	transA bool
	a      []T // the naive reference kernel's A, as given
	lda    int
}

// Pack packs op(A) (m×k) for the kernel GemmSource uses, reusing p's buffer. p keeps
// a reference to a only under the naive reference kernel.
func (p *PackedA[T]) Pack(transA bool, m, k int, a []T, lda int) {
	p.m, p.k, p.transA, p.a, p.lda = m, k, transA, nil, lda
	if m <= 0 || k <= 0 {
		return
	}
	if transA {
		checkMatrix("A", a, k, m, lda)
	} else {
		checkMatrix("A", a, m, k, lda)
	}
	if defaultKernel.k32 == nil {
		p.a = a // GemmSource's naive product reads A as given
		return
	}
	kn := sourceKernel[T]()
	kcb := ceilDiv(k, ceilDiv(k, kn.kc)) // as call.start
	pad := ceilDiv(m, kn.mr) * kn.mr
	p.data = grow(p.data, pad*k)
	for pc := 0; pc < k; pc += kcb {
		kc := min(kcb, k-pc)
		kn.packedA(transA, a, lda, 0, pc, m, kc, p.data[pc*pad:pc*pad+pad*kc])
	}
}

// GemmSourcePacked is GemmSource with op(A) packed beforehand by p.Pack (m and k are
// p's), bit for bit the same product.
func GemmSourcePacked[T Float](serial bool, p *PackedA[T], n int, alpha T, src BSource[T], beta T, c []T, ldc int) {
	m, k := p.m, p.k
	if m <= 0 || n <= 0 || k <= 0 || alpha == 0 || p.a != nil {
		GemmSource(serial, p.transA, m, n, k, alpha, p.a, p.lda, src, beta, c, ldc)
		return
	}
	checkMatrix("C", c, m, n, ldc)
	calls, _ := lists[T]()
	cl := calls.get()
	cl.src, cl.packed = src, p.data
	cl.start(sourceKernel[T](), serial, false, false, m, n, k, alpha, nil, 0, nil, 0, beta, c, ldc)
	cl.src = nil
	calls.put(cl)
}

// sourceKernel is the kernel GemmSource runs for T (not the naive reference).
func sourceKernel[T Float]() *kernel[T] {
	var z T
	if unsafe.Sizeof(z) == 4 {
		return any(defaultKernel.k32).(*kernel[T])
	}
	return any(portable64).(*kernel[T])
}

// GatherSliver32 packs kc rows of one 32-column sliver into dst (kc×32) with AVX-512,
// for BSource implementations on float32: row r is two runs of 16 floats, the low at
// src[base+offs[2t]:] under the lane mask masks[2t] and the high at src[base+offs[2t+1]:]
// under masks[2t+1], with t = (t0+r) mod taps and base = start, moving on by chStride
// each time t wraps to 0; lanes outside a mask are zero and not read. Offsets may point
// before or past src where their masks leave those lanes out; every lane a mask keeps
// must lie inside src (the caller's contract: the routine reads through raw pointers).
// It reports false, doing nothing, where the CPU lacks AVX-512 or nr is not 32 for the
// kernel in use; the caller then packs the sliver itself.
func GatherSliver32(dst, src []float32, start int, offs []int32, masks []uint16, taps, t0, kc, chStride int) bool {
	if !gatherSupported || kc == 0 {
		return gatherSupported
	}
	_ = dst[kc*32-1]
	_, _ = offs[2*taps-1], masks[2*taps-1]
	gatherRows32(&dst[0], (*float32)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(src)), 4*start)), &offs[0], &masks[0], taps, t0, kc, chStride)
	return true
}

// SourceSliverWidth is the sliver width (nr) that GemmSource's float32 products pass
// to PackB with the kernel in use.
func SourceSliverWidth() int {
	if defaultKernel.k32 == nil {
		return 0
	}
	return defaultKernel.k32.nr
}

// TransposeGather16 writes dst[c·dstStride+r] = src[start+offs[r]+c] for r, c < 16,
// zero where lane c is outside row r's mask tapMask[tapOf[r]] (that memory is not
// read), with AVX-512: a 16×16 block of a transposed column matrix packed straight
// from the image, each row's mask that of its kernel tap. As with GatherSliver32,
// every lane a mask keeps must lie inside src; it reports false, doing nothing, where
// GatherSliver32 would.
func TransposeGather16(dst []float32, dstStride int, src []float32, start int, offs *[16]int32, tapOf *[16]uint8, tapMask *[256]uint16) bool {
	if !gatherSupported {
		return false
	}
	_ = dst[15*dstStride+15]
	transposeGather16(&dst[0], dstStride, (*float32)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(src)), 4*start)), &offs[0], &tapOf[0], &tapMask[0])
	return true
}

// GatherSliverIdx32 is GatherSliver32 with an index for every lane: row r is
// src[base+idx[32t+l]] for lane l (0–31) under masks[2t] (lanes 0–15) and masks[2t+1]
// (16–31), by AVX-512 gathers, for slivers that no pair of runs covers.
func GatherSliverIdx32(dst, src []float32, start int, idx []int32, masks []uint16, taps, t0, kc, chStride int) bool {
	if !gatherSupported || kc == 0 {
		return gatherSupported
	}
	_ = dst[kc*32-1]
	_, _ = idx[32*taps-1], masks[2*taps-1]
	gatherIdx32(&dst[0], (*float32)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(src)), 4*start)), &idx[0], &masks[0], taps, t0, kc, chStride)
	return true
}

// IdxBlock16 describes a 16×16 block of a transposed column matrix for
// TransposeGatherIdx16: window position l (a row of the block) has image offset Pos[l]
// and coordinates (OH[l], OW[l]) of its window's corner; column-matrix row r (a column
// of the block) adds Rel[r] to the offset and (DH[r], DW[r]) to the coordinates.
type IdxBlock16 struct {
	Pos, OH, OW, Rel, DH, DW [16]int32
}

// TransposeGatherIdx16 writes dst[l·dstStride+r] = src[start+Pos[l]+Rel[r]] where
// 0 ≤ OH[l]+DH[r] < h and 0 ≤ OW[l]+DW[r] < w, zero elsewhere (not read), with
// AVX-512 gathers: TransposeGather16 for window positions that span rows or stride.
// The caller's contract is GatherSliver32's; it reports false where that would.
func TransposeGatherIdx16(dst []float32, dstStride int, src []float32, start int, b *IdxBlock16, h, w int) bool {
	if !gatherSupported {
		return false
	}
	_ = dst[15*dstStride+15]
	transposeGatherIdx16(&dst[0], dstStride, (*float32)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(src)), 4*start)),
		&b.Pos[0], &b.OH[0], &b.OW[0], &b.Rel[0], &b.DH[0], &b.DW[0], h, w)
	return true
}
