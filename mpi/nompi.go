//go:build !mpi

package mpi

import (
	"errors"
	"fmt"
)

// Enabled reports whether this binary was built with MPI support (-tags mpi).
const Enabled = false

// Start returns nil when the process was not started by an MPI launcher for several
// processes, so training runs in one process as usual; otherwise an error saying how to
// build fcn with MPI, since N independent copies of one run would each write it.
func Start() (Comm, error) {
	if !Launched() {
		return nil, nil
	}
	n := launchedSize()
	size := "several"
	if n > 0 {
		size = fmt.Sprint(n)
	}
	return nil, errors.New("started by mpirun (or another MPI launcher) as one of " + size + " processes, but this fcn was built without MPI support: " +
		"install Open MPI's development files (apt-get install openmpi-bin libopenmpi-dev) and build with `go build -tags mpi ./cmd/fcn`, " +
		"then run `mpirun -np N ./fcn train ...`; without MPI, run fcn train once, not under mpirun")
}
