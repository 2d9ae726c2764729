//go:build tools

// Package tools records the module's build-time dependencies: go mod tidy leaves out
// what only files tagged ignore import, such as the GEMM kernel generator
// (layers/internal/gemm/asm/gen.go, run by go generate), so its avo imports are
// repeated here under a tag tidy does consider. avo is a library, not a command, so a
// tool directive in go.mod cannot name it.
package tools

import (
	_ "github.com/mmcloughlin/avo/build"
	_ "github.com/mmcloughlin/avo/operand"
	_ "github.com/mmcloughlin/avo/reg"
)
