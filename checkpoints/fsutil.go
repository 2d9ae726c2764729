package checkpoints

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// tmpPrefix starts the name of anything being written; readers ignore such names and
// Save removes them, since they are left only by interrupted writes.
const tmpPrefix = ".tmp-"

// digest is what writing a file learned about it.
type digest struct {
	size   int64
	sha256 string
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// syncFile is a file being written: *os.File, or a test's file that fills the disk.
type syncFile interface {
	io.Writer
	Sync() error
	Close() error
	Name() string
}

// disk creates the files Save writes. osDisk is the real one; tests use a disk that runs
// out of space part-way, to check that a full disk leaves the last checkpoint intact.
type disk interface {
	create(path string) (syncFile, error)
}

type osDisk struct{}

func (osDisk) create(path string) (syncFile, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
}

// writeFileSync creates path (which must not exist) on d and writes it with writeSynced.
func writeFileSync(d disk, path string, fill func(io.Writer) error) (digest, error) {
	f, err := d.create(path)
	if err != nil {
		return digest{}, err
	}
	return writeSynced(f, fill)
}

// writeSynced lets fill write f and fsyncs f before closing it, so that once the file (or
// the folder holding it) is renamed into place its bytes are on disk. It returns the size
// and SHA-256 of what was written.
func writeSynced(f syncFile, fill func(io.Writer) error) (d digest, err error) {
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	h := sha256.New()
	bw := bufio.NewWriterSize(f, 1<<20)
	cw := &countingWriter{w: io.MultiWriter(bw, h)}
	if err := fill(cw); err != nil {
		return digest{}, err
	}
	if err := bw.Flush(); err != nil {
		return digest{}, err
	}
	if err := f.Sync(); err != nil {
		return digest{}, fmt.Errorf("fsync %s: %w", f.Name(), err)
	}
	return digest{size: cw.n, sha256: hex.EncodeToString(h.Sum(nil))}, nil
}

// WriteFileAtomic replaces path (mode 0644) with what fill writes, so that a reader — a
// resumed run, a study continued — sees the old file or the whole new one, never half of
// one: see writeFileAtomic.
func WriteFileAtomic(path string, fill func(io.Writer) error) error {
	if _, err := writeFileAtomic(path, fill); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// writeFileAtomic replaces path with what fill writes: a temporary file in the same folder
// is written and fsynced, renamed over path, and the folder fsynced. A crash leaves either
// the old file or the new one (plus, at worst, a ".tmp-" file that is never read).
func writeFileAtomic(path string, fill func(io.Writer) error) (digest, error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tmpPrefix+filepath.Base(path)+"-")
	if err != nil {
		return digest{}, err
	}
	tmp := f.Name()
	// CreateTemp makes the file 0600; the files a run writes are for others to read too.
	err = f.Chmod(0o644)
	var d digest
	if err == nil {
		d, err = writeSynced(f, fill)
	} else {
		f.Close()
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		os.Remove(tmp)
		return digest{}, err
	}
	return d, nil
}

// freshName returns an unused path in dir whose name starts with prefix, to rename
// something to (os.Rename refuses to replace a folder, even an empty one).
func freshName(dir, prefix string) (string, error) {
	p, err := os.MkdirTemp(dir, prefix)
	if err != nil {
		return "", err
	}
	return p, os.Remove(p)
}

// syncDir fsyncs a folder so that the entries created, renamed or removed in it survive
// a crash.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync folder %s: %w", dir, err)
	}
	return nil
}

// hashingReader feeds everything read through it to a SHA-256.
type hashingReader struct {
	r io.Reader
	h hashWriter
}

type hashWriter interface {
	io.Writer
	Sum([]byte) []byte
}

func (r *hashingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.h.Write(p[:n])
	return n, err
}

// errNotExist reports whether err says a file is absent.
func errNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }
