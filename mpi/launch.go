// Package mpi runs fcn train as one rank of an Open MPI job: a thin cgo binding of the
// few MPI calls data-parallel training needs (build tag mpi; see world.go), and, without
// the tag, the detection of a launch by mpirun, so that such a binary refuses to train
// N copies of the same model side by side.
package mpi

import (
	"os"
	"strconv"
)

// launchedSize returns the number of processes the launcher says the job has (Open
// MPI's mpirun, a PMI or PMIx launcher such as srun), or 0 when not launched by one.
func launchedSize() int {
	for _, k := range []string{"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS"} {
		if v := os.Getenv(k); v != "" {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		}
	}
	if os.Getenv("PMIX_RANK") != "" || os.Getenv("PMI_RANK") != "" {
		return -1 // launched, size unknown
	}
	return 0
}

// Launched reports whether this process was started by an MPI launcher for a job of
// more than one process (or of an unknown size).
func Launched() bool {
	n := launchedSize()
	return n > 1 || n < 0
}

// Comm is the job's communicator as Start returns it: the methods of train.Comm (so it
// is one) and Close, which finalises MPI.
type Comm interface {
	Rank() int
	Size() int
	AllreduceSum32(buf []float32) error
	AllreduceSum64(buf []float64) error
	Allgather(send, recv []byte) error
	Bcast(buf []byte, root int) error
	Barrier() error
	Abort(code int)
	Close() error
}
