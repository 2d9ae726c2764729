//go:build !amd64

package gemm

// kernelList is every kernel for this architecture, fastest first.
func kernelList() []*Kernel {
	return []*Kernel{
		{name: "portable", k32: portableKernel[float32]("portable")},
		{name: "naive"},
	}
}
