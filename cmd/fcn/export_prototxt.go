package main

import (
	"context"
	"errors"
	"io"
)

// runExportPrototxt is a placeholder until its issue lands (this session replaces it).
func runExportPrototxt(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("not built yet")
}
