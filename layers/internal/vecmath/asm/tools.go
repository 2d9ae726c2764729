//go:build tools

// Records the generator's avo dependency for go mod tidy (see ../../gemm/asm/tools.go).
package main

import (
	_ "github.com/mmcloughlin/avo/build"
	_ "github.com/mmcloughlin/avo/operand"
	_ "github.com/mmcloughlin/avo/reg"
)
