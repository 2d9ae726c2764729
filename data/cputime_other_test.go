//go:build !unix

package data

import "time"

// cpuTime is unknown here; the benchmark then reports wall-clock throughput only.
func cpuTime() time.Duration { return 0 }
