// Package caffe imports Caffe nets, weights and solvers into fcn experiments and
// exports fcn models as Caffe prototxt. Files are parsed by google.golang.org/protobuf
// with code generated from a subset of Caffe's schema (caffepb); which fcn layer type a
// Caffe layer is, and how their fields correspond, comes from the layer registry
// (layers.CaffeMapping).
package caffe

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/fcn-dev/fcn/interop/caffe/caffepb"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
)

// maxFile bounds what is read into memory (VGG16's caffemodel is ~550 MB).
const maxFile = 2 << 30

func readFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: is a folder, not a file", path)
	}
	if st.Size() > maxFile {
		return nil, fmt.Errorf("%s: %d bytes is more than the %d this reads", path, st.Size(), int64(maxFile))
	}
	return os.ReadFile(path)
}

// prototext errors read "proto: (line 3:5): unknown field ..." or "... syntax error
// (line 3:5): ..."; posRE finds the place so messages read file:line:col.
var protoRE = regexp.MustCompile(`proto:[\s\x{00a0}]+`)

var posRE = regexp.MustCompile(`\(line (\d+):(\d+)\):?\s*`)

// textError rewrites a prototext error as "file:line:col: what".
func textError(path string, err error) error {
	// protobuf-go writes "proto:" with a space or, deliberately at random, a no-break space.
	msg := protoRE.ReplaceAllString(err.Error(), "")
	if m := posRE.FindStringSubmatchIndex(msg); m != nil {
		line, col := msg[m[2]:m[3]], msg[m[4]:m[5]]
		what := strings.TrimSpace(msg[:m[0]] + msg[m[1]:])
		return fmt.Errorf("%s:%s:%s: %s", path, line, col, what)
	}
	return fmt.Errorf("%s: %s", path, msg)
}

// ParseNetText parses a prototxt net; path names it in errors.
func ParseNetText(path string, b []byte) (*caffepb.NetParameter, error) {
	var net caffepb.NetParameter
	if err := prototext.Unmarshal(b, &net); err != nil {
		return nil, textError(path, err)
	}
	return &net, nil
}

// ReadNetText reads a prototxt net.
func ReadNetText(path string) (*caffepb.NetParameter, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return ParseNetText(path, b)
}

// ParseSolverText parses a solver prototxt.
func ParseSolverText(path string, b []byte) (*caffepb.SolverParameter, error) {
	var s caffepb.SolverParameter
	if err := prototext.Unmarshal(b, &s); err != nil {
		return nil, textError(path, err)
	}
	return &s, nil
}

// ParseModel parses a binary caffemodel (a NetParameter with blobs). A file that is
// not one — truncated, or another format — is an error naming it; protobuf's wire
// format has no magic number, so a file that parses but holds no layer is refused too.
func ParseModel(path string, b []byte) (*caffepb.NetParameter, error) {
	var net caffepb.NetParameter
	if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, &net); err != nil {
		return nil, fmt.Errorf("%s: not a Caffe caffemodel (binary NetParameter), or truncated: %w", path, err)
	}
	if len(net.GetLayer()) == 0 && len(net.GetLayers()) == 0 {
		return nil, fmt.Errorf("%s: not a Caffe caffemodel: no layers in it", path)
	}
	return &net, nil
}

// ReadModel reads a binary caffemodel.
func ReadModel(path string) (*caffepb.NetParameter, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return ParseModel(path, b)
}
