package gemm

import (
	"errors"

	"golang.org/x/sys/cpu"
)

// bf16Missing says why GemmBF16 cannot run here (nil: it can). VPERMW and the
// masked 16-bit stores need AVX512BW besides AVX512_BF16 itself.
var bf16Missing = func() error {
	switch {
	case !cpu.X86.HasAVX512F || !cpu.X86.HasAVX512BW:
		return errors.New("the CPU (or OS) lacks AVX-512 (AVX512F and AVX512BW)")
	case !cpu.X86.HasAVX512BF16:
		return errors.New("the CPU lacks AVX512_BF16 (VDPBF16PS)")
	}
	return nil
}()

// bf16Kernel is the avx512 driver set-up with VDPBF16PS tiles: K counts pairs,
// so a 256-pair block of a 14-row sliver is the same 14 KiB as the float32
// kernel's, and the packing routines move pairs as 32-bit elements.
var bf16Kernel = avx512Kernel("bf16", 14, 32, 256, 336, 1024, bf16Tiles14x32)
