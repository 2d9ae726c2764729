//go:build mpi

package mpi

/*
#cgo pkg-config: ompi-c
#include <stdlib.h>
#include <mpi.h>

// Wrappers: Open MPI's MPI_COMM_WORLD, MPI_FLOAT, … are macros over addresses of
// library objects, which cgo cannot name.
static int fcn_init(int *provided) {
	int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, provided);
	if (rc == MPI_SUCCESS) {
		// Errors come back to Go, which names the call and aborts the job itself.
		rc = MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	}
	return rc;
}
static int fcn_rank(int *r) { return MPI_Comm_rank(MPI_COMM_WORLD, r); }
static int fcn_size(int *s) { return MPI_Comm_size(MPI_COMM_WORLD, s); }
static int fcn_allreduce_f32(float *buf, int n) {
	return MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}
static int fcn_allreduce_f64(double *buf, int n) {
	return MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}
static int fcn_allgather(void *send, int n, void *recv) {
	return MPI_Allgather(send, n, MPI_BYTE, recv, n, MPI_BYTE, MPI_COMM_WORLD);
}
static int fcn_bcast(void *buf, int n, int root) { return MPI_Bcast(buf, n, MPI_BYTE, root, MPI_COMM_WORLD); }
static int fcn_barrier(void) { return MPI_Barrier(MPI_COMM_WORLD); }
static int fcn_abort(int code) { return MPI_Abort(MPI_COMM_WORLD, code); }
static int fcn_finalize(void) { return MPI_Finalize(); }
static void fcn_error_string(int code, char *buf, int *len) { MPI_Error_string(code, buf, len); }
static int fcn_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"unsafe"
)

// Enabled reports whether this binary was built with MPI support (-tags mpi).
const Enabled = true

// World is MPI_COMM_WORLD. Every MPI call is made by one goroutine locked to its OS
// thread, the one that initialised MPI (MPI_THREAD_FUNNELED), which serves the calls of
// the other goroutines in turn; a World implements train.Comm.
type World struct {
	rank, size int
	calls      chan func()
}

// maxCount is the largest element count of one MPI call (an int); longer buffers go in
// pieces.
const maxCount = 1 << 30

// Start initialises MPI when the process was started by an MPI launcher (mpirun) and
// returns the job's World; otherwise it returns nil and training runs in one process.
func Start() (Comm, error) {
	if launchedSize() == 0 {
		return nil, nil
	}
	// Open MPI's handlers for SIGSEGV, SIGBUS, SIGFPE and SIGABRT would replace the Go
	// runtime's (which turns faults into panics); MCA parameter opal_signal lists the
	// signals it takes over: none.
	if _, set := os.LookupEnv("OMPI_MCA_opal_signal"); !set {
		os.Setenv("OMPI_MCA_opal_signal", "")
	}
	w := &World{calls: make(chan func())}
	started := make(chan error)
	go w.serve(started)
	if err := <-started; err != nil {
		return nil, err
	}
	return w, nil
}

// serve initialises MPI on a locked OS thread and then runs the calls sent to it. The
// thread is never unlocked: MPI must be called from it until the process ends.
func (w *World) serve(started chan<- error) {
	runtime.LockOSThread()
	var provided, rank, size C.int
	if rc := C.fcn_init(&provided); rc != 0 {
		started <- callError("MPI_Init_thread", rc)
		return
	}
	if provided < C.MPI_THREAD_FUNNELED {
		started <- fmt.Errorf("mpi: MPI_Init_thread provides thread level %d, fcn needs MPI_THREAD_FUNNELED (%d)", int(provided), int(C.MPI_THREAD_FUNNELED))
		return
	}
	if rc := C.fcn_rank(&rank); rc != 0 {
		started <- callError("MPI_Comm_rank", rc)
		return
	}
	if rc := C.fcn_size(&size); rc != 0 {
		started <- callError("MPI_Comm_size", rc)
		return
	}
	w.rank, w.size = int(rank), int(size)
	started <- nil
	for f := range w.calls {
		f()
	}
}

// call runs f on the MPI thread and returns its MPI error code as an error naming op.
func (w *World) call(op string, f func() C.int) error {
	done := make(chan C.int, 1)
	w.calls <- func() { done <- f() }
	if rc := <-done; rc != 0 {
		return callError(op, rc)
	}
	return nil
}

// callError names the MPI call and gives MPI's description of the code.
func callError(op string, rc C.int) error {
	buf := make([]byte, int(C.fcn_max_error_string()))
	var n C.int
	C.fcn_error_string(rc, (*C.char)(unsafe.Pointer(&buf[0])), &n)
	return fmt.Errorf("mpi: %s failed: %s (error %d)", op, string(buf[:int(n)]), int(rc))
}

// Rank is this process's rank in MPI_COMM_WORLD.
func (w *World) Rank() int { return w.rank }

// Size is the number of processes of MPI_COMM_WORLD.
func (w *World) Size() int { return w.size }

// AllreduceSum32 sums buf over the ranks in place (MPI_Allreduce, MPI_IN_PLACE, MPI_SUM).
func (w *World) AllreduceSum32(buf []float32) error {
	for len(buf) > 0 {
		part := buf[:min(len(buf), maxCount)]
		if err := w.call("MPI_Allreduce(MPI_FLOAT)", func() C.int {
			return C.fcn_allreduce_f32((*C.float)(unsafe.Pointer(&part[0])), C.int(len(part)))
		}); err != nil {
			return err
		}
		buf = buf[len(part):]
	}
	return nil
}

// AllreduceSum64 sums buf over the ranks in place.
func (w *World) AllreduceSum64(buf []float64) error {
	for len(buf) > 0 {
		part := buf[:min(len(buf), maxCount)]
		if err := w.call("MPI_Allreduce(MPI_DOUBLE)", func() C.int {
			return C.fcn_allreduce_f64((*C.double)(unsafe.Pointer(&part[0])), C.int(len(part)))
		}); err != nil {
			return err
		}
		buf = buf[len(part):]
	}
	return nil
}

// Allgather fills recv with every rank's send (all the same length), in rank order.
func (w *World) Allgather(send, recv []byte) error {
	if len(recv) != w.size*len(send) {
		return fmt.Errorf("mpi: allgather of %d bytes from %d ranks into %d bytes", len(send), w.size, len(recv))
	}
	if len(send) == 0 {
		return nil
	}
	if len(send) > maxCount {
		return fmt.Errorf("mpi: allgather of %d bytes: at most %d", len(send), maxCount)
	}
	return w.call("MPI_Allgather", func() C.int {
		return C.fcn_allgather(unsafe.Pointer(&send[0]), C.int(len(send)), unsafe.Pointer(&recv[0]))
	})
}

// Bcast copies root's buf into every rank's.
func (w *World) Bcast(buf []byte, root int) error {
	for len(buf) > 0 {
		part := buf[:min(len(buf), maxCount)]
		if err := w.call("MPI_Bcast", func() C.int {
			return C.fcn_bcast(unsafe.Pointer(&part[0]), C.int(len(part)), C.int(root))
		}); err != nil {
			return err
		}
		buf = buf[len(part):]
	}
	return nil
}

// Barrier waits for every rank.
func (w *World) Barrier() error {
	return w.call("MPI_Barrier", func() C.int { return C.fcn_barrier() })
}

// Abort ends every process of the job with code (MPI_Abort); it does not return.
func (w *World) Abort(code int) {
	w.call("MPI_Abort", func() C.int { return C.fcn_abort(C.int(code)) })
	os.Exit(code)
}

// Close finalises MPI (MPI_Finalize); the World must not be used afterwards.
func (w *World) Close() error {
	err := w.call("MPI_Finalize", func() C.int { return C.fcn_finalize() })
	close(w.calls)
	return err
}
