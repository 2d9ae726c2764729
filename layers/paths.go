package layers

import (
	"errors"
	"fmt"
)

// computePath names one way a conv or deconv computes its forward or its backward pass.
// Setup picks one for each from the shapes (and, for a frozen bilinear deconv, the
// config) and keeps it on the layer; Forward and Backward run what it names, and
// ComputePath reports it. Every path computes the same function: they differ in how
// the work is cut for the caches and the threads, so in rounding only.
type computePath string

const (
	// pathPointwise: a 1×1, stride-1, unpadded kernel, whose image is its own column
	// matrix: GEMMs on the tensors themselves, no im2col or col2im.
	pathPointwise computePath = "pointwise"
	// pathIm2colBlocked: im2col of cache-sized blocks of columns (convChunks), each
	// multiplied by a GEMM split among the threads. Conv forward, deconv backward.
	pathIm2colBlocked computePath = "im2col-blocked"
	// pathCol2imBlocked: per block, a GEMM into a column block and col2im adding it
	// into the image. Conv backward (with the weight gradient from im2col of x, by
	// blocks too), deconv forward.
	pathCol2imBlocked computePath = "col2im-blocked"
	// pathImageParallel: one task per image (forward) or per slot of images
	// (backward), each with its own L2-sized column block and single-threaded GEMMs
	// (images.go). Conv forward, deconv backward.
	pathImageParallel computePath = "image-parallel"
	// pathImplicit: conv forward with no column matrix: the GEMM packs its operand
	// straight from the image (im2col.Source), one task per image (conv_implicit.go).
	pathImplicit computePath = "implicit"
	// pathImageDWCol2im: conv backward with the weight gradient image-parallel and the
	// input gradient by col2im blocks.
	pathImageDWCol2im computePath = "image-parallel-dw+col2im"
	// pathFlippedBlocked: conv backward at stride 1: both gradients from one im2col
	// of dY read by the flipped kernel (convBackwardFlipped), by blocks. Without an
	// input gradient the weight gradient comes from im2col(x) by blocks.
	pathFlippedBlocked computePath = "flipped-blocked"
	// pathFlippedImages: pathFlippedBlocked image-parallel. Without an input gradient
	// the weight gradient comes from im2col(x), image-parallel too.
	pathFlippedImages computePath = "flipped-image-parallel"
	// pathSubPixel: deconv forward at dilation 1 by output phases: one stride-1
	// convolution per phase, whose outputs interleave into y (deconvPhase), by blocks
	// of images.
	pathSubPixel computePath = "sub-pixel"
	// pathSubPixelImages: pathSubPixel one task per image.
	pathSubPixelImages computePath = "sub-pixel-image-parallel"
	// pathBilinearFrozen: a deconv whose weight is fixed at the bilinear kernel, as
	// one separable upsampling per channel (bilinear_fast.go).
	pathBilinearFrozen computePath = "bilinear-frozen"
)

// errPathNotApplicable is wrapped by Setup's error when a forced path cannot compute
// the layer at its shapes.
var errPathNotApplicable = errors.New("compute path not applicable")

// pickPath returns the forced path if one is set and applies (else an error), or the
// chosen one.
func pickPath(prefix, pass string, chosen, forced computePath, applies func(computePath) bool) (computePath, error) {
	if forced == "" {
		return chosen, nil
	}
	if !applies(forced) {
		return "", fmt.Errorf("%s: %s path %q: %w", prefix, pass, forced, errPathNotApplicable)
	}
	return forced, nil
}

// pathName is how ComputePath writes a pair of paths: one name when both passes take
// the same path.
func pathName(fwd, bwd computePath) string {
	if fwd == bwd {
		return string(fwd)
	}
	return "fwd " + string(fwd) + " / bwd " + string(bwd)
}
