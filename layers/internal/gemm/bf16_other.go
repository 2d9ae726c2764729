//go:build !amd64

package gemm

import "errors"

var bf16Missing = errors.New("bf16 needs an amd64 CPU with AVX512_BF16")

// bf16Kernel is never run here (GemmBF16 panics first).
var bf16Kernel = portableKernel[float32]("bf16")

var bf16KernelB = bf16Kernel

func bf16PackRows32(dst *uint32, src *float32, ld, kp, n int) { panic(bf16Missing) }
func bf16Row(dst *uint16, src *float32, n int)                { panic(bf16Missing) }
func bf16Pairs(dst *uint32, r0, r1 *float32, n int)           { panic(bf16Missing) }
