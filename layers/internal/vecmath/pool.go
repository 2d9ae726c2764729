package vecmath

// MaxPool2x2 pools the first windows of a row of 2×2 stride-2 windows with AVX-512:
// window o covers r0[2o], r0[2o+1] (a, b) and r1[2o], r1[2o+1] (c, d); y[o] is
// max(max(a, b), max(c, d)) with Go's max (NaN if any is NaN, +0 over −0), and arg[o]
// is at + 2o plus the offset of the first input equal to it in the order a, b, c, d
// (0, 1, w, w+1), or of the first NaN. It pools the largest multiple of 16 windows
// below len(y) (none without AVX-512) and returns their count; the caller pools the
// rest.
func MaxPool2x2(y []float32, arg []int32, r0, r1 []float32, at, w int32) int {
	n := len(y) &^ 15
	if !hasAVX512 || n == 0 {
		return 0
	}
	_, _, _ = arg[n-1], r0[2*n-1], r1[2*n-1]
	maxPool2x2x16(&y[0], &arg[0], &r0[0], &r1[0], at, w, n)
	return n
}
