//go:build tools

// This file records the generator's build-time dependency for the module: go mod tidy
// leaves out what only files tagged ignore import, such as gen.go (run by go generate),
// so its avo imports are repeated here under a tag tidy does consider. avo is a
// library, not a command, so a tool directive in go.mod cannot name it.
package main

import (
	_ "github.com/mmcloughlin/avo/build"
	_ "github.com/mmcloughlin/avo/operand"
	_ "github.com/mmcloughlin/avo/reg"
)
