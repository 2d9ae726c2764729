package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
)

// startCPUProfile starts a CPU profile written to path (go tool pprof) and returns the
// function that stops it. It writes into a temporary file renamed at the end, so an
// interrupted command leaves no truncated profile under the name given. An empty path
// profiles nothing.
func startCPUProfile(path string, stderr io.Writer) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil || os.Rename(f.Name(), path) != nil {
			os.Remove(f.Name())
			fmt.Fprintf(stderr, "--cpuprofile: could not write %s\n", path)
		}
	}, nil
}
