package layers

// Hooks for the external tests of the compute paths (paths_test.go).

// ForcePaths makes every later Setup of l, a *Conv or *Deconv, take the named forward
// and backward paths ("" keeps Setup's choice). Setup fails with an error wrapping
// ErrPathNotApplicable when a path cannot compute the layer at its shapes.
func ForcePaths(l Layer, fwd, bwd string) {
	f := [2]computePath{computePath(fwd), computePath(bwd)}
	switch l := l.(type) {
	case *Conv:
		l.force = f
	case *Deconv:
		l.force = f
	default:
		panic("ForcePaths: not a conv or deconv")
	}
}

// ErrPathNotApplicable is what Setup wraps when a forced path does not apply.
var ErrPathNotApplicable = errPathNotApplicable

// Every forward and backward path of each layer.
var (
	ConvForwardPaths    = pathNames(pathPointwise, pathIm2colBlocked, pathImageParallel, pathImplicit)
	ConvBackwardPaths   = pathNames(pathPointwise, pathImplicit, pathCol2imBlocked, pathImageDWCol2im, pathFlippedBlocked, pathFlippedImages)
	DeconvForwardPaths  = pathNames(pathBilinearFrozen, pathPointwise, pathCol2imBlocked, pathSubPixel, pathSubPixelImages)
	DeconvBackwardPaths = pathNames(pathBilinearFrozen, pathPointwise, pathIm2colBlocked, pathImageParallel, pathImplicit)
)

func pathNames(ps ...computePath) []string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return s
}
