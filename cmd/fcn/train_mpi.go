package main

import (
	"context"
	"fmt"
	"io"

	"github.com/fcn-dev/fcn/mpi"
	"github.com/fcn-dev/fcn/train"
)

// runTrain is `fcn train`. Started by mpirun (a binary built with -tags mpi), it is one
// rank of a data-parallel job: only rank 0 prints; a rank that fails prints its error,
// naming its rank, and aborts the whole job (MPI_Abort) so that no rank waits for it.
// Built without MPI, a start under mpirun with several processes is refused (mpi.Start).
func runTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	world, err := mpi.Start()
	if err != nil {
		return err
	}
	if world == nil {
		return trainCommand(ctx, args, stdout, stderr, nil)
	}
	if world.Rank() != 0 {
		stdout = io.Discard
	}
	if err := trainCommand(ctx, args, stdout, stderr, world); err != nil {
		fmt.Fprintf(stderr, "fcn train: rank %d of %d: %v\n", world.Rank(), world.Size(), err)
		world.Abort(1)
	}
	return world.Close()
}

var _ train.Comm = mpi.Comm(nil) // what mpi.Start returns can train
