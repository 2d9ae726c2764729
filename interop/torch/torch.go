// Package torch reads the tensors of a PyTorch checkpoint written by torch.save: the zip
// format (torch ≥ 1.6) and the legacy pickle stream (_use_new_zipfile_serialization=False),
// holding a state_dict or a dict that holds one under "state_dict" or "model".
//
// The pickle is read by github.com/nlpodyssey/gopickle (pure Go, maintained, the reader
// other Go ML projects use) with a restricted class resolver: a .pth is untrusted input,
// and pickle globals are code, so only OrderedDict, torch's tensor rebuild function and
// its storage classes resolve; anything else is refused by name. gopickle panics on some
// malformed streams; every panic is recovered and returned as an error naming the file.
package torch

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"

	"path"
	"sort"
	"strings"

	"github.com/fcn-dev/fcn/checkpoints"
	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"
)

// IntTensor is an integer tensor of the file (int64 and the like), such as batch norm's
// num_batches_tracked: fcn has no integer tensors, but callers must account for them.
type IntTensor struct {
	Name  string
	Shape []int
	Data  []int64
}

// StateDict is what ReadStateDict found.
type StateDict struct {
	// Tensors are the floating-point tensors in file order: float32, float16 and bfloat16
	// as Data (exact), float64 as Data64 (MatchWeights rounds and reports them).
	Tensors []checkpoints.Tensor
	Ints    []IntTensor
	// Under is the key of the outer dict that held the state_dict ("state_dict",
	// "model"), or "" for a bare one.
	Under string
}

// IsPickle reports whether head, the start of a file, looks like a torch.save file: a
// zip archive, or a legacy stream, which opens with the pickled magic number (PROTO n,
// LONG1 of 10 bytes).
func IsPickle(head []byte) bool {
	zip := len(head) >= 4 && string(head[:4]) == "PK\x03\x04"
	legacy := len(head) >= 4 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5 && head[2] == 0x8a && head[3] == 0x0a
	return zip || legacy
}

// ReadStateDict reads the state_dict of the torch.save file at path.
func ReadStateDict(path string) (sd *StateDict, err error) {
	defer func() {
		if r := recover(); r != nil {
			sd, err = nil, fmt.Errorf("%s: malformed PyTorch file (%v)", path, r)
		}
	}()
	obj, err := load(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	sd, err = stateDict(obj)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sd, nil
}

func load(p string) (any, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	head := make([]byte, 4)
	if _, err := io.ReadFull(f, head); err != nil {
		return nil, fmt.Errorf("not a PyTorch file: only %d bytes", fi.Size())
	}
	if string(head) == "PK\x03\x04" {
		z, err := zip.NewReader(f, fi.Size())
		if err != nil {
			return nil, fmt.Errorf("zip archive: %w", err)
		}
		return loadZip(z, fi.Size())
	}
	if head[0] != 0x80 {
		return nil, fmt.Errorf("not a PyTorch file: neither a zip archive nor a pickle stream (starts % x)", head)
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, err
	}
	if _, err := checkPickles(b, 5); err != nil {
		return nil, fmt.Errorf("legacy format: %w", err)
	}
	return loadLegacy(bytes.NewReader(b), fi.Size())
}

// legacyMagic and legacyProtocol open torch.save's legacy stream.
const (
	legacyMagic    = "1950a86a20f9469cfc6c"
	legacyProtocol = 1001
)

// loadLegacy reads the legacy format: pickles of the magic number, the protocol
// version, the system info and the object, a pickled list of storage keys, then each
// storage as an 8-byte element count and its bytes, in key order. gopickle's own legacy
// reader does not notice a truncated storage, so this one reads every byte it counts.
func loadLegacy(r *bytes.Reader, fileSize int64) (any, error) {
	next := func(what string, persistent func(any) (any, error)) (any, error) {
		u := pickle.NewUnpickler(r)
		u.FindClass = storageClass
		u.PersistentLoad = persistent
		v, err := u.Load()
		if err != nil {
			return nil, fmt.Errorf("legacy format, %s pickle: %w", what, err)
		}
		return v, nil
	}
	v, err := next("magic number", nil)
	if err != nil {
		return nil, err
	}
	if n, ok := v.(*big.Int); !ok || n.Text(16) != legacyMagic {
		return nil, errors.New("a pickle stream, but not torch.save's (no magic number)")
	}
	if v, err = next("protocol", nil); err != nil {
		return nil, err
	}
	if n, ok := v.(int); !ok || n != legacyProtocol {
		return nil, fmt.Errorf("legacy format: protocol %v, want %d", v, legacyProtocol)
	}
	if _, err = next("system info", nil); err != nil {
		return nil, err
	}
	type pending struct {
		class pytorch.StorageClassInterface
		loc   string
		s     pytorch.StorageInterface
	}
	storages := map[string]*pending{}
	obj, err := next("object", func(id any) (any, error) {
		t, ok := id.(*types.Tuple)
		if !ok || t.Len() != 6 {
			return nil, fmt.Errorf("persistent id %v is not a storage (typename, class, key, location, size, view)", id)
		}
		typ, _ := t.Get(0).(string)
		class, okc := t.Get(1).(pytorch.StorageClassInterface)
		key, okk := t.Get(2).(string)
		loc, _ := t.Get(3).(string)
		if typ != "storage" || !okc || !okk {
			return nil, fmt.Errorf("persistent id %v is not a storage (typename, class, key, location, size, view)", id)
		}
		if t.Get(5) != nil {
			return nil, fmt.Errorf("storage %q is a view of another storage, which is not supported", key)
		}
		p, ok := storages[key]
		if !ok {
			// The storage is filled after the object pickle; tensors hold this pointer.
			p = &pending{class: class, loc: loc, s: class.New(0, loc)}
			storages[key] = p
		}
		return p.s, nil
	})
	if err != nil {
		return nil, err
	}
	v, err = next("storage keys", nil)
	if err != nil {
		return nil, err
	}
	list, ok := v.(*types.List)
	if !ok {
		return nil, fmt.Errorf("legacy format: storage keys are a %T, not a list", v)
	}
	for _, k := range *list {
		key, _ := k.(string)
		p, ok := storages[key]
		if !ok {
			return nil, fmt.Errorf("legacy format: storage key %v is not used by any tensor", k)
		}
		var count [8]byte
		if _, err := io.ReadFull(r, count[:]); err != nil {
			return nil, fmt.Errorf("storage %q: size: %w (truncated file?)", key, err)
		}
		n := binary.LittleEndian.Uint64(count[:])
		es := uint64(elemSize(p.class))
		if n > uint64(fileSize)/es {
			return nil, fmt.Errorf("storage %q: %d elements of %d bytes do not fit a file of %d bytes (truncated or damaged)", key, n, es, fileSize)
		}
		buf := make([]byte, n*es)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("storage %q: %d elements: %w (truncated file?)", key, n, err)
		}
		if err := p.s.SetFromFileWithSize(bytes.NewReader(buf), int(n)); err != nil {
			return nil, fmt.Errorf("storage %q: %w", key, err)
		}
	}
	for key := range storages {
		if !contains(*list, key) {
			return nil, fmt.Errorf("legacy format: storage %q has no data", key)
		}
	}
	return obj, nil
}

func contains(l types.List, key string) bool {
	for _, k := range l {
		if k == key {
			return true
		}
	}
	return false
}

// findClass is the allow-list for pickle globals beyond torch's storage classes and
// _rebuild_tensor_v2 (which gopickle's pytorch package resolves itself).
func findClass(module, name string) (any, error) {
	switch module + "." + name {
	case "collections.OrderedDict":
		return &types.OrderedDictClass{}, nil
	case "torch._utils._rebuild_parameter":
		return rebuildParameter{}, nil
	}
	return nil, fmt.Errorf("pickle global %s.%s is not allowed (a .pth file may only hold tensors, dicts and OrderedDicts; fcn never runs other code from it)", module, name)
}

// rebuildParameter is torch._utils._rebuild_parameter(data, requires_grad, hooks): a
// Parameter is its tensor.
type rebuildParameter struct{}

func (rebuildParameter) Call(args ...any) (any, error) {
	if len(args) < 1 {
		return nil, errors.New("_rebuild_parameter: no tensor")
	}
	return args[0], nil
}

// storageClasses are torch.*Storage names of the zip format's persistent ids (the
// legacy reader resolves them inside gopickle).
func storageClass(module, name string) (any, error) {
	if module == "torch" {
		switch name {
		case "FloatStorage":
			return &pytorch.FloatStorageClass{}, nil
		case "HalfStorage":
			return &pytorch.HalfStorageClass{}, nil
		case "BFloat16Storage":
			return &pytorch.BFloat16StorageClass{}, nil
		case "DoubleStorage":
			return &pytorch.DoubleStorageClass{}, nil
		case "LongStorage":
			return &pytorch.LongStorageClass{}, nil
		case "IntStorage":
			return &pytorch.IntStorageClass{}, nil
		}
	}
	if module == "torch._utils" && name == "_rebuild_tensor_v2" {
		return &pytorch.RebuildTensorV2{}, nil
	}
	return findClass(module, name)
}

// elemSize is the byte size of a storage class's element.
func elemSize(c pytorch.StorageClassInterface) int {
	switch c.(type) {
	case *pytorch.HalfStorageClass, *pytorch.BFloat16StorageClass:
		return 2
	case *pytorch.FloatStorageClass, *pytorch.IntStorageClass:
		return 4
	default:
		return 8
	}
}

// maxPickle bounds data.pkl, which holds names and tensor metadata, not data.
const maxPickle = 256 << 20

// loadZip reads torch.save's zip format: <archive>/data.pkl refers to each storage by
// key, stored uncompressed as <archive>/data/<key>. It is gopickle's loadZipFile with the
// storage's size checked against its entry before anything is allocated.
func loadZip(z *zip.Reader, zipSize int64) (any, error) {
	records := make(map[string]*zip.File, len(z.File))
	var pkl *zip.File
	prefix := ""
	for _, f := range z.File {
		if path.Base(f.Name) == "data.pkl" && pkl == nil {
			pkl, prefix = f, strings.TrimSuffix(f.Name, "data.pkl")
		}
		records[f.Name] = f
	}
	if pkl == nil {
		return nil, errors.New("zip archive without data.pkl: not a torch.save file")
	}
	if _, ok := records[prefix+"constants.pkl"]; ok {
		return nil, errors.New("a TorchScript archive (torch.jit.save); save the model's state_dict with torch.save instead")
	}
	rc, err := pkl.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pkl.Name, err)
	}
	defer rc.Close()
	if pkl.UncompressedSize64 > maxPickle {
		return nil, fmt.Errorf("%s: %d bytes; a state_dict's pickle is far smaller (at most %d)", pkl.Name, pkl.UncompressedSize64, maxPickle)
	}
	b, err := io.ReadAll(io.LimitReader(rc, maxPickle))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pkl.Name, err)
	}
	if _, err := checkPickles(b, 1); err != nil {
		return nil, fmt.Errorf("%s: %w", pkl.Name, err)
	}
	loaded := map[string]pytorch.StorageInterface{}
	u := pickle.NewUnpickler(bytes.NewReader(b))
	u.FindClass = storageClass
	u.PersistentLoad = func(id any) (any, error) {
		t, ok := id.(*types.Tuple)
		if !ok || t.Len() < 5 {
			return nil, fmt.Errorf("%s: persistent id %v is not a storage (typename, class, key, location, size)", pkl.Name, id)
		}
		typ, _ := t.Get(0).(string)
		class, okc := t.Get(1).(pytorch.StorageClassInterface)
		key, okk := t.Get(2).(string)
		loc, _ := t.Get(3).(string)
		size, oks := t.Get(4).(int)
		if typ != "storage" || !okc || !okk || !oks || size < 0 {
			return nil, fmt.Errorf("%s: persistent id %v is not a storage (typename, class, key, location, size)", pkl.Name, id)
		}
		if s, ok := loaded[key]; ok {
			return s, nil
		}
		name := prefix + "data/" + key
		f, ok := records[name]
		if !ok {
			return nil, fmt.Errorf("storage %q: the archive has no entry %s", key, name)
		}
		// torch stores storages uncompressed; a deflated one cannot exceed deflate's ratio.
		if want := uint64(size) * uint64(elemSize(class)); size > math.MaxInt32 || f.UncompressedSize64 != want || want > 1032*uint64(zipSize) {
			return nil, fmt.Errorf("storage %q: entry %s holds %d bytes, its %d elements need %d", key, name, f.UncompressedSize64, size, want)
		}
		r, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("storage %q: %s: %w", key, name, err)
		}
		defer r.Close()
		s := class.New(size, loc)
		if err := s.SetFromFileWithSize(r, size); err != nil {
			return nil, fmt.Errorf("storage %q: %s: %w", key, name, err)
		}
		loaded[key] = s
		return s, nil
	}
	obj, err := u.Load()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pkl.Name, err)
	}
	return obj, nil
}

// entries lists a pickled dict's string keys and values in order.
func entries(obj any) ([]string, []any, bool) {
	var keys []string
	var vals []any
	switch d := obj.(type) {
	case *types.OrderedDict:
		for e := d.List.Front(); e != nil; e = e.Next() {
			en := e.Value.(*types.OrderedDictEntry)
			k, ok := en.Key.(string)
			if !ok {
				return nil, nil, false
			}
			keys, vals = append(keys, k), append(vals, en.Value)
		}
	case *types.Dict:
		for _, en := range *d {
			k, ok := en.Key.(string)
			if !ok {
				return nil, nil, false
			}
			keys, vals = append(keys, k), append(vals, en.Value)
		}
	default:
		return nil, nil, false
	}
	return keys, vals, true
}

// stateDict finds the state_dict in obj: obj itself when its values are tensors, or
// obj["state_dict"] or obj["model"].
func stateDict(obj any) (*StateDict, error) {
	keys, vals, ok := entries(obj)
	if !ok {
		return nil, fmt.Errorf("the file holds a %T, not a dict of tensors (save model.state_dict())", obj)
	}
	under := ""
	if !anyTensor(vals) {
		found := false
		for _, want := range []string{"state_dict", "model"} {
			for i, k := range keys {
				if k == want {
					if ks, vs, ok := entries(vals[i]); ok && anyTensor(vs) {
						keys, vals, under, found = ks, vs, want, true
					}
				}
			}
			if found {
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("no state_dict: the file is a dict without tensors and without a \"state_dict\" or \"model\" entry holding them (keys: %s)", strings.Join(keys, ", "))
		}
	}
	sd := &StateDict{Under: under}
	for i, k := range keys {
		t, ok := vals[i].(*pytorch.Tensor)
		if !ok {
			return nil, fmt.Errorf("state_dict entry %q is a %T, not a tensor", k, vals[i])
		}
		if err := sd.add(k, t); err != nil {
			return nil, fmt.Errorf("tensor %q: %w", k, err)
		}
	}
	return sd, nil
}

func anyTensor(vals []any) bool {
	for _, v := range vals {
		if _, ok := v.(*pytorch.Tensor); ok {
			return true
		}
	}
	return false
}

// add appends tensor t, gathering its elements through its storage offset and strides.
func (sd *StateDict) add(name string, t *pytorch.Tensor) error {
	var n int
	var idx func(dst int) int
	var err error
	switch s := t.Source.(type) {
	case *pytorch.FloatStorage:
		n, idx, err = layout(t, len(s.Data))
		if err == nil {
			sd.Tensors = append(sd.Tensors, checkpoints.Tensor{Name: name, Shape: t.Size, Data: gather(s.Data, n, idx)})
		}
	case *pytorch.HalfStorage:
		n, idx, err = layout(t, len(s.Data))
		if err == nil {
			sd.Tensors = append(sd.Tensors, checkpoints.Tensor{Name: name, Shape: t.Size, Data: gather(s.Data, n, idx)})
		}
	case *pytorch.BFloat16Storage:
		n, idx, err = layout(t, len(s.Data))
		if err == nil {
			sd.Tensors = append(sd.Tensors, checkpoints.Tensor{Name: name, Shape: t.Size, Data: gather(s.Data, n, idx)})
		}
	case *pytorch.DoubleStorage:
		n, idx, err = layout(t, len(s.Data))
		if err == nil {
			sd.Tensors = append(sd.Tensors, checkpoints.Tensor{Name: name, Shape: t.Size, Data64: gather(s.Data, n, idx)})
		}
	case *pytorch.LongStorage:
		n, idx, err = layout(t, len(s.Data))
		if err == nil {
			sd.Ints = append(sd.Ints, IntTensor{Name: name, Shape: t.Size, Data: gather(s.Data, n, idx)})
		}
	case *pytorch.IntStorage:
		n, idx, err = layout(t, len(s.Data))
		if err == nil {
			d := gather(s.Data, n, idx)
			w := make([]int64, len(d))
			for i, v := range d {
				w[i] = int64(v)
			}
			sd.Ints = append(sd.Ints, IntTensor{Name: name, Shape: t.Size, Data: w})
		}
	default:
		return fmt.Errorf("storage %T is not supported (float32, float16, bfloat16, float64, int32, int64 are)", t.Source)
	}
	return err
}

// layout checks t's size, stride and offset against a storage of n elements and returns
// the element count and the storage index of each element in row-major order.
func layout(t *pytorch.Tensor, storageLen int) (int, func(int) int, error) {
	if len(t.Stride) != len(t.Size) {
		return 0, nil, fmt.Errorf("%d strides for %d dimensions", len(t.Stride), len(t.Size))
	}
	if t.StorageOffset < 0 {
		return 0, nil, fmt.Errorf("negative storage offset %d", t.StorageOffset)
	}
	n, last := 1, t.StorageOffset
	for i, d := range t.Size {
		if d < 0 || t.Stride[i] < 0 {
			return 0, nil, fmt.Errorf("size %v stride %v: negative", t.Size, t.Stride)
		}
		if d > 0 && n > math.MaxInt32/d {
			return 0, nil, fmt.Errorf("size %v: too many elements", t.Size)
		}
		n *= d
		if d > 0 {
			if t.Stride[i] > math.MaxInt32/d {
				return 0, nil, fmt.Errorf("stride %v: too large", t.Stride)
			}
			last += (d - 1) * t.Stride[i]
		}
	}
	if n > storageLen {
		return 0, nil, fmt.Errorf("size %v: %d elements, more than its storage's %d (expanded tensors are not supported; save t.contiguous())", t.Size, n, storageLen)
	}
	if n > 0 && last >= storageLen {
		return 0, nil, fmt.Errorf("size %v, stride %v, offset %d reach element %d of a storage of %d", t.Size, t.Stride, t.StorageOffset, last, storageLen)
	}
	size, stride, off := t.Size, t.Stride, t.StorageOffset
	return n, func(k int) int {
		at := off
		for i := len(size) - 1; i >= 0; i-- {
			at += (k % size[i]) * stride[i]
			k /= size[i]
		}
		return at
	}, nil
}

func gather[T any](src []T, n int, idx func(int) int) []T {
	out := make([]T, n)
	for k := range out {
		out[k] = src[idx(k)]
	}
	return out
}

// Names lists the state_dict's names, floats and ints, sorted (for messages).
func (sd *StateDict) Names() []string {
	var out []string
	for _, t := range sd.Tensors {
		out = append(out, t.Name)
	}
	for _, t := range sd.Ints {
		out = append(out, t.Name)
	}
	sort.Strings(out)
	return out
}
