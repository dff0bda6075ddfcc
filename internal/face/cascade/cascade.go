// Package cascade evaluates OpenCV's boosted cascade classifiers, with Haar or LBP features, the
// way OpenCV 4's CascadeClassifier::detectMultiScale does: the same image pyramid, window steps,
// variance normalisation, rounding and grouping, so that a model trained with OpenCV finds here
// what it finds there. Models are read from a compact binary form (see [Cascade.UnmarshalBinary]);
// the OpenCV XML files they come from are converted once, outside the program.
package cascade

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Kind is the type of feature a cascade is built on.
type Kind uint8

// The feature kinds OpenCV's traincascade produces (HOG cascades are not supported by OpenCV 4
// either).
const (
	Haar Kind = iota // weighted sums of 2 or 3 rectangles, normalised by the window's contrast
	LBP              // local binary patterns over a 3×3 grid of cells
)

// Rect is a rectangle of a feature, relative to the window, with its weight (Haar only).
type Rect struct {
	X, Y, W, H int
	Weight     float32
}

// Feature is one feature of the cascade. A Haar feature sums its Rects, each times its weight;
// Tilted (45°-rotated) features, which a few of OpenCV's cascades use, are not supported. An LBP
// feature has one Rect: the top-left cell of its 3×3 grid.
type Feature struct {
	Rects  []Rect
	Tilted bool
}

// Node is a decision in a weak classifier's tree. Left and Right name the next node when positive
// and a leaf when zero or negative (leaf -Left or -Right), as in OpenCV's files.
type Node struct {
	Feature     int
	Threshold   float32   // Haar: go left when the feature's value is below it
	Subset      [8]uint32 // LBP: go left when the pattern's bit is set
	Left, Right int
}

// Tree is a weak classifier: a small decision tree whose leaf values a stage adds up.
type Tree struct {
	Nodes  []Node
	Leaves []float32
}

// Stage accepts a window when its trees' values add up to at least Threshold.
type Stage struct {
	Threshold float32
	Trees     []Tree
}

// Cascade is a trained detector for Width×Height windows.
type Cascade struct {
	Kind          Kind
	Width, Height int
	Features      []Feature
	Stages        []Stage
}

// The binary form: magic, version, then little-endian fields; small integers are bytes. It holds
// the stage thresholds as OpenCV keeps them in memory (float32), so nothing is lost.
const (
	magic   = "OCVC"
	version = 1
)

// MarshalBinary encodes the cascade in the form UnmarshalBinary reads, after checking it as
// UnmarshalBinary will.
func (c *Cascade) MarshalBinary() ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c.encode(), nil
}

func (c *Cascade) encode() []byte {
	b := append([]byte(magic), version, byte(c.Kind), byte(c.Width), byte(c.Height))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(c.Features)))
	for _, f := range c.Features {
		b = append(b, byte(len(f.Rects)), boolByte(f.Tilted))
		for _, r := range f.Rects {
			b = append(b, byte(r.X), byte(r.Y), byte(r.W), byte(r.H))
			if c.Kind == Haar {
				b = binary.LittleEndian.AppendUint32(b, math.Float32bits(r.Weight))
			}
		}
	}
	b = binary.LittleEndian.AppendUint16(b, uint16(len(c.Stages)))
	for _, s := range c.Stages {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(s.Threshold))
		b = binary.LittleEndian.AppendUint16(b, uint16(len(s.Trees)))
		for _, t := range s.Trees {
			b = append(b, byte(len(t.Nodes)))
			for _, n := range t.Nodes {
				b = append(b, byte(int8(n.Left)), byte(int8(n.Right)))
				b = binary.LittleEndian.AppendUint16(b, uint16(n.Feature))
				if c.Kind == Haar {
					b = binary.LittleEndian.AppendUint32(b, math.Float32bits(n.Threshold))
				} else {
					for _, w := range n.Subset {
						b = binary.LittleEndian.AppendUint32(b, w)
					}
				}
			}
			for _, v := range t.Leaves {
				b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
			}
		}
	}
	return b
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// UnmarshalBinary decodes a cascade written by MarshalBinary and checks that it is consistent
// (every index in range, every rectangle inside the window), so that evaluation never needs to.
func (c *Cascade) UnmarshalBinary(data []byte) error {
	r := reader{b: data}
	if string(r.bytes(len(magic))) != magic || r.u8() != version {
		return errors.New("cascade: not a cascade model (bad magic or version)")
	}
	*c = Cascade{Kind: Kind(r.u8()), Width: int(r.u8()), Height: int(r.u8())}
	c.Features = make([]Feature, r.u16())
	for i := range c.Features {
		f := &c.Features[i]
		f.Rects = make([]Rect, r.u8())
		f.Tilted = r.u8() != 0
		for j := range f.Rects {
			f.Rects[j] = Rect{X: int(r.u8()), Y: int(r.u8()), W: int(r.u8()), H: int(r.u8())}
			if c.Kind == Haar {
				f.Rects[j].Weight = r.f32()
			}
		}
	}
	c.Stages = make([]Stage, r.u16())
	for i := range c.Stages {
		s := &c.Stages[i]
		s.Threshold = r.f32()
		s.Trees = make([]Tree, r.u16())
		for j := range s.Trees {
			s.Trees[j] = r.tree(c.Kind)
		}
	}
	if r.err != nil {
		return fmt.Errorf("cascade: truncated model: %w", r.err)
	}
	if len(r.b) != 0 {
		return fmt.Errorf("cascade: %d bytes after the model", len(r.b))
	}
	return c.validate()
}

func (r *reader) tree(k Kind) Tree {
	t := Tree{Nodes: make([]Node, r.u8())}
	for i := range t.Nodes {
		n := &t.Nodes[i]
		n.Left, n.Right = int(int8(r.u8())), int(int8(r.u8()))
		n.Feature = int(r.u16())
		if k == Haar {
			n.Threshold = r.f32()
		} else {
			for w := range n.Subset {
				n.Subset[w] = r.u32()
			}
		}
	}
	t.Leaves = make([]float32, len(t.Nodes)+1)
	for i := range t.Leaves {
		t.Leaves[i] = r.f32()
	}
	return t
}

// validate checks what evaluation relies on: features inside the window (an LBP feature's whole
// 3×3 grid), node and leaf indices in range.
func (c *Cascade) validate() error {
	if c.Kind > LBP || c.Width < 3 || c.Height < 3 || c.Width > 255 || c.Height > 255 {
		return fmt.Errorf("cascade: bad kind %d or window %d×%d", c.Kind, c.Width, c.Height)
	}
	if len(c.Stages) == 0 || len(c.Features) == 0 || len(c.Features) > math.MaxUint16 {
		return fmt.Errorf("cascade: %d stages, %d features", len(c.Stages), len(c.Features))
	}
	for i, f := range c.Features {
		if err := c.validFeature(f); err != nil {
			return fmt.Errorf("cascade: feature %d: %w", i, err)
		}
	}
	for i, s := range c.Stages {
		for j, t := range s.Trees {
			if err := validTree(t, len(c.Features)); err != nil {
				return fmt.Errorf("cascade: stage %d, tree %d: %w", i, j, err)
			}
		}
	}
	return nil
}

func (c *Cascade) validFeature(f Feature) error {
	if c.Kind == LBP {
		if len(f.Rects) != 1 || f.Tilted {
			return errors.New("an LBP feature has one upright cell")
		}
		r := f.Rects[0]
		if r.W < 1 || r.H < 1 || r.X+3*r.W > c.Width || r.Y+3*r.H > c.Height {
			return fmt.Errorf("grid %v outside the window", r)
		}
		return nil
	}
	if len(f.Rects) < 2 || len(f.Rects) > 3 {
		return fmt.Errorf("%d rectangles; a Haar feature has 2 or 3", len(f.Rects))
	}
	if f.Tilted {
		return errors.New("tilted (45°) Haar features are not supported")
	}
	for _, r := range f.Rects {
		if r.W < 0 || r.H < 0 || r.X < 0 || r.Y < 0 || r.X+r.W > c.Width || r.Y+r.H > c.Height {
			return fmt.Errorf("rectangle %v outside the window", r)
		}
	}
	return nil
}

func validTree(t Tree, nfeatures int) error {
	if len(t.Nodes) == 0 || len(t.Leaves) != len(t.Nodes)+1 {
		return fmt.Errorf("%d nodes, %d leaves", len(t.Nodes), len(t.Leaves))
	}
	for i, n := range t.Nodes {
		if n.Feature >= nfeatures {
			return fmt.Errorf("node %d: feature %d of %d", i, n.Feature, nfeatures)
		}
		for _, next := range []int{n.Left, n.Right} {
			// A child node comes after its parent, so a walk always ends at a leaf.
			if next > 0 && (next <= i || next >= len(t.Nodes)) || -next >= len(t.Leaves) {
				return fmt.Errorf("node %d: child %d out of range", i, next)
			}
		}
	}
	return nil
}

// reader decodes the binary form, remembering the first shortfall.
type reader struct {
	b   []byte
	err error
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || len(r.b) < n {
		r.err = errors.New("unexpected end")
		r.b = nil
		return make([]byte, n)
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() uint8   { return r.bytes(1)[0] }
func (r *reader) u16() uint16 { return binary.LittleEndian.Uint16(r.bytes(2)) }
func (r *reader) u32() uint32 { return binary.LittleEndian.Uint32(r.bytes(4)) }
func (r *reader) f32() float32 {
	return math.Float32frombits(r.u32())
}
