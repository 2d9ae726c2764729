//go:build !amd64

package gemm

// kernelList is every kernel for this architecture, fastest first.
func kernelList() []*Kernel {
	return []*Kernel{
		{name: "portable", k32: portableKernel[float32]("portable")},
		{name: "naive"},
	}
}

var gatherSupported = false

func gatherRows32(dst *float32, src *float32, offs *int32, masks *uint16, taps, t0, kc, chStride int) {
	panic("gemm: gatherRows32 needs amd64")
}

func transposeGather16(dst *float32, dstStride int, src *float32, offs *int32, tapOf *uint8, tapMask *uint16) {
	panic("gemm: transposeGather16 needs amd64")
}

func gatherIdx32(dst *float32, src *float32, idx *int32, masks *uint16, taps, t0, kc, chStride int) {
	panic("gemm: gatherIdx32 needs amd64")
}

func transposeGatherIdx16(dst *float32, dstStride int, src *float32, pos, oh, ow, rel, dh, dw *int32, h, w int) {
	panic("gemm: transposeGatherIdx16 needs amd64")
}
