package gemm

// The portable micro-kernel: plain Go, 2×4 tiles. The Go compiler does not
// vectorise and keeps at most 15 floating-point values in registers, so a
// 4×4 tile (16 accumulators) spills on every step; 2×4 measured 1.6× faster.

const (
	portableMR = 2
	portableNR = 4
)

func portableKernel[T Float](name string) *kernel[T] {
	return &kernel[T]{
		name: name, mr: portableMR, nr: portableNR,
		kc: 256, mc: 128, nc: 1024, maxShared: defaultMaxShared,
		tile: func(kc int, a, b, c []T, ldc int, alpha, beta T) {
			portableTile(portableMR, portableNR, kc, a, b, c, ldc, alpha, beta)
		},
		edge: portableTile[T],
	}
}

// portable64 is the only blocked float64 kernel: float64 serves gradient checks,
// where correctness matters and speed only has to be reasonable.
var portable64 = portableKernel[float64]("portable")

// portableTile computes the top-left rows×cols of a 2×4 tile; a and b are padded
// slivers, so the full tile is always computed and only the part in C is stored.
func portableTile[T Float](rows, cols, kc int, a, b, c []T, ldc int, alpha, beta T) {
	var c00, c01, c02, c03, c10, c11, c12, c13 T
	a, b = a[:2*kc], b[:4*kc]
	for p := 0; p < kc; p++ {
		ap, bp := a[2*p:2*p+2:2*p+2], b[4*p:4*p+4:4*p+4]
		a0, a1 := ap[0], ap[1]
		b0 := bp[0]
		c00 += a0 * b0
		c10 += a1 * b0
		b1 := bp[1]
		c01 += a0 * b1
		c11 += a1 * b1
		b2 := bp[2]
		c02 += a0 * b2
		c12 += a1 * b2
		b3 := bp[3]
		c03 += a0 * b3
		c13 += a1 * b3
	}
	acc := [2][4]T{{c00, c01, c02, c03}, {c10, c11, c12, c13}}
	for i := 0; i < rows; i++ {
		row := c[i*ldc : i*ldc+cols]
		for j := range row {
			if beta == 0 {
				row[j] = alpha * acc[i][j]
			} else {
				row[j] = alpha*acc[i][j] + beta*row[j]
			}
		}
	}
}
