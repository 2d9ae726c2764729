package autodiff

import (
	"fmt"
	"math"

	"github.com/fcn-dev/fcn/layers"
)

// autoOffsetter is what the graph needs of a crop layer (layers/crop.go): whether its
// offset is "auto", a way to set the offset it computes, and the offset in force.
// A layer implementing it is treated as Caffe's Crop: the coordinate walk follows only
// its first input (the one cropped), and it maps coordinates by scale 1, shift −offset.
type autoOffsetter interface {
	AutoOffset() bool
	SetOffset(h, w int) error
	Offset() (h, w int)
}

// cropInfo is a crop node's offset bookkeeping.
type cropInfo struct {
	layer autoOffsetter
	auto  bool
	done  bool // auto offset computed and set
}

// coordMap is Caffe's per-axis affine coordinate map (coord_map.py) for the H and W
// axes: a node maps its input coordinates to its output's by x ↦ scale·x + shift.
// Identity is (1, 0).
type coordMap struct {
	scale, shift [2]float64
}

var identityMap = coordMap{scale: [2]float64{1, 1}}

// compose is coord_map.py's compose(base, next): scales multiply and next's shift is
// scaled by base's scale.
func compose(base, next coordMap) coordMap {
	var c coordMap
	for a := range 2 {
		c.scale[a] = base.scale[a] * next.scale[a]
		c.shift[a] = base.scale[a]*next.shift[a] + base.shift[a]
	}
	return c
}

// inverse is coord_map.py's inverse: de-scale and un-shift.
func inverse(m coordMap) coordMap {
	var c coordMap
	for a := range 2 {
		c.scale[a] = 1 / m.scale[a]
		c.shift[a] = -m.shift[a] / m.scale[a]
	}
	return c
}

// nodeMap returns the coordinate map of node i's layer and whether it has one
// (coord_map.py's coord_map(fn), where false is its UndefinedMapException).
//
// A layers.CoordMapper says its map; a crop maps by (1, −offset); any other layer is
// pass-through (1, 0) as long as it keeps the spatial size of every 4-D input — a layer
// that changes H×W without saying how (or has no 4-D output, like the loss) stops the
// walk, as an unknown layer does in Caffe.
func (g *Graph) nodeMap(n *gnode) (coordMap, bool) {
	if cm, ok := n.Layer.(layers.CoordMapper); ok {
		scale, shift := cm.CoordMap()
		return coordMap{scale: scale, shift: shift}, true
	}
	if n.crop != nil {
		h, w := n.crop.layer.Offset()
		return coordMap{scale: [2]float64{1, 1}, shift: [2]float64{-float64(h), -float64(w)}}, true
	}
	out := n.outShape
	if len(out) != 4 {
		return coordMap{}, false
	}
	for _, s := range n.inShapes {
		if len(s) == 4 && (s[2] != out[2] || s[3] != out[3]) {
			return coordMap{}, false
		}
	}
	return identityMap, true
}

// bottoms returns the blobs the coordinate walk continues to from blob id: a node's
// inputs (only the first one for a crop, whose second input gives nothing but a size),
// and nothing for a graph input.
func (g *Graph) bottoms(id int) ([]int, coordMap, bool) {
	if id < len(g.specs) {
		return nil, coordMap{}, false
	}
	n := g.nodes[id-len(g.specs)]
	m, ok := g.nodeMap(n)
	if !ok {
		return nil, coordMap{}, false
	}
	if n.crop != nil {
		return n.srcs[:1], m, true
	}
	return n.srcs, m, true
}

// coordMapFromTo is coord_map.py's coord_map_from_to: walk back from "from" composing
// maps, then walk back from "to" (breadth first, so the nearest blob wins) until a blob
// of the first walk is met, and compose the second walk's map with the inverse of the
// first's there.
func (g *Graph) coordMapFromTo(from, to int) (coordMap, error) {
	fromMaps := map[int]coordMap{from: identityMap}
	queue := []int{from}
	for len(queue) > 0 {
		top := queue[0]
		queue = queue[1:]
		bs, m, ok := g.bottoms(top)
		if !ok {
			continue
		}
		for _, b := range bs {
			if _, seen := fromMaps[b]; seen {
				continue // Caffe assumes every path agrees; keep the first
			}
			fromMaps[b] = compose(fromMaps[top], m)
			queue = append(queue, b)
		}
	}
	toMaps := map[int]coordMap{to: identityMap}
	queue = []int{to}
	for len(queue) > 0 {
		top := queue[0]
		queue = queue[1:]
		if fm, ok := fromMaps[top]; ok {
			return compose(toMaps[top], inverse(fm)), nil
		}
		bs, m, ok := g.bottoms(top)
		if !ok {
			continue
		}
		for _, b := range bs {
			if _, seen := toMaps[b]; seen {
				continue
			}
			toMaps[b] = compose(toMaps[top], m)
			queue = append(queue, b)
		}
	}
	return coordMap{}, fmt.Errorf("could not compute the coordinate map between %s and %s; are they connected by spatial layers?",
		g.blobName(from), g.blobName(to))
}

func (g *Graph) blobName(id int) string {
	if id < len(g.specs) {
		return g.specs[id].Name
	}
	return g.nodes[id-len(g.specs)].Name
}

// offsetTol absorbs floating-point rounding in maps built from strides that are not
// powers of two (1/3·3); Caffe compares exactly.
const offsetTol = 1e-6

// cropOffset is coord_map.py's crop(top_from, top_to): the map from the cropped input
// to the reference input must have scale 1 and a shift b ≤ 0 that is an integer; the
// crop offset is −b.
func (g *Graph) cropOffset(from, to int) ([2]int, error) {
	m, err := g.coordMapFromTo(from, to)
	if err != nil {
		return [2]int{}, err
	}
	var off [2]int
	for a := range 2 {
		if math.Abs(m.scale[a]-1) > offsetTol {
			return off, fmt.Errorf("scale mismatch: %s maps to %s with scale (%g, %g), want 1 (are both at the same resolution?)",
				g.blobName(from), g.blobName(to), m.scale[0], m.scale[1])
		}
	}
	for a := range 2 {
		if m.shift[a] > offsetTol {
			return off, fmt.Errorf("cannot crop a negative offset (%g, %g): %s does not cover %s",
				-m.shift[0], -m.shift[1], g.blobName(from), g.blobName(to))
		}
	}
	for a := range 2 {
		r := math.Round(m.shift[a])
		if math.Abs(m.shift[a]-r) > offsetTol {
			return off, fmt.Errorf("cannot crop a non-integer offset (%g, %g) from %s to %s",
				-m.shift[0], -m.shift[1], g.blobName(from), g.blobName(to))
		}
		off[a] = int(-r)
	}
	return off, nil
}

// autoCrop computes and sets the offset of a crop node whose offset is "auto": its
// first input is cropped to the size of its second, as Caffe's net-spec crop().
func (g *Graph) autoCrop(n *gnode) error {
	if len(n.srcs) != 2 {
		return fmt.Errorf("%s: crop needs 2 inputs (the tensor to crop and the reference), got %d", n.Name, len(n.srcs))
	}
	off, err := g.cropOffset(n.srcs[0], n.srcs[1])
	if err != nil {
		return fmt.Errorf("%s: crop offset: %w", n.Name, err)
	}
	if err := n.crop.layer.SetOffset(off[0], off[1]); err != nil {
		return fmt.Errorf("%s: crop offset (%d, %d): %w", n.Name, off[0], off[1], err)
	}
	n.crop.done = true
	return nil
}

// CropOffset returns the (h, w) offset of the named crop node; ok is false for a node
// that is not a crop.
func (g *Graph) CropOffset(name string) (h, w int, ok bool) {
	n := g.node(name)
	if n == nil || n.crop == nil {
		return 0, 0, false
	}
	h, w = n.crop.layer.Offset()
	return h, w, true
}
