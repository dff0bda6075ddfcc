package cascade

import "math"

// outcome is what the cascade made of one window.
type outcome int

const (
	rejected   outcome = iota // a later stage (or the contrast check) rejected it
	firstStage                // the first stage rejected it
	accepted                  // every stage accepted it
)

// evaluator holds one pyramid level's integral images and the cascade compiled for their row
// stride: every node carries its feature's corner offsets, so evaluating a window is loads and
// adds. One per Windows call, so concurrent calls share nothing.
type evaluator struct {
	small  []uint8  // the level's pixels (kept to reuse the buffer)
	sum    []int32  // integral image, (w+1)×(h+1), row stride `stride`
	sqsum  []uint32 // integral of squares (Haar): wraps like OpenCV's 32-bit sums; window sums stay exact
	stride int

	stages []stageRef
	trees  []treeRef
	haar   []haarNode
	lbp    []lbpNode
	leaves []float32
	norm   [4]int32 // Haar: corners of the rectangle whose contrast normalises the features
	area   float64
}

type stageRef struct {
	threshold   float32
	first, last int // trees
}

type treeRef struct{ node, leaf int }

// haarNode is a tree node with its feature: up to 3 weighted rectangles, 4 corners each.
type haarNode struct {
	ofs         [12]int32
	weight      [3]float32
	threshold   float32
	left, right int
}

// lbpNode is a tree node with its feature: the 16 corners of a 3×3 grid of cells.
type lbpNode struct {
	ofs         [16]int32
	subset      [8]uint32
	left, right int
}

// prepare computes the integral images of one pyramid level.
func (ev *evaluator) prepare(c *Cascade, img gray) {
	stride := img.w + 1
	if stride > ev.stride { // levels shrink, so this happens once: on the first
		ev.stride = stride
		ev.sum = make([]int32, stride*(img.h+1))
		if c.Kind == Haar {
			ev.sqsum = make([]uint32, stride*(img.h+1))
		}
		ev.compile(c)
	}
	for y := 1; y <= img.h; y++ {
		row := img.pix[(y-1)*img.stride : (y-1)*img.stride+img.w]
		s, sPrev := ev.sum[y*ev.stride:], ev.sum[(y-1)*ev.stride:]
		var acc int32
		for x, v := range row {
			acc += int32(v)
			s[x+1] = sPrev[x+1] + acc
		}
		if ev.sqsum == nil {
			continue
		}
		q, qPrev := ev.sqsum[y*ev.stride:], ev.sqsum[(y-1)*ev.stride:]
		var qacc uint32
		for x, v := range row {
			qacc += uint32(v) * uint32(v)
			q[x+1] = qPrev[x+1] + qacc
		}
	}
}

// compile lays the cascade out flat for ev.stride.
func (ev *evaluator) compile(c *Cascade) {
	at := func(x, y int) int32 { return int32(y*ev.stride + x) }
	ev.stages, ev.trees, ev.haar, ev.lbp, ev.leaves = nil, nil, nil, nil, nil
	for _, s := range c.Stages {
		ev.stages = append(ev.stages, stageRef{s.Threshold, len(ev.trees), len(ev.trees) + len(s.Trees)})
		for _, t := range s.Trees {
			ev.trees = append(ev.trees, treeRef{len(ev.haar) + len(ev.lbp), len(ev.leaves)})
			ev.leaves = append(ev.leaves, t.Leaves...)
			for _, n := range t.Nodes {
				f := c.Features[n.Feature]
				if c.Kind == LBP {
					ln := lbpNode{subset: n.Subset, left: n.Left, right: n.Right}
					r := f.Rects[0]
					for i := range 16 {
						ln.ofs[i] = at(r.X+i%4*r.W, r.Y+i/4*r.H)
					}
					ev.lbp = append(ev.lbp, ln)
					continue
				}
				hn := haarNode{threshold: n.Threshold, left: n.Left, right: n.Right}
				for i, r := range f.Rects {
					hn.ofs[4*i], hn.ofs[4*i+1] = at(r.X, r.Y), at(r.X+r.W, r.Y)
					hn.ofs[4*i+2], hn.ofs[4*i+3] = at(r.X, r.Y+r.H), at(r.X+r.W, r.Y+r.H)
					hn.weight[i] = r.Weight
				}
				ev.haar = append(ev.haar, hn)
			}
		}
	}
	w, h := c.Width-2, c.Height-2
	ev.norm = [4]int32{at(1, 1), at(1+w, 1), at(1, 1+h), at(1+w, 1+h)}
	ev.area = float64(w * h)
}

// run evaluates the window whose top-left corner is (x, y).
func (ev *evaluator) run(c *Cascade, x, y int) outcome {
	p := y*ev.stride + x
	if c.Kind == LBP {
		return ev.runLBP(p)
	}
	n, sw, qw := &ev.norm, ev.sum[p:], ev.sqsum[p:]
	s := sw[n[0]] - sw[n[1]] - sw[n[2]] + sw[n[3]]
	q := qw[n[0]] - qw[n[1]] - qw[n[2]] + qw[n[3]]
	// area × the window's standard deviation, times area: OpenCV divides each feature by it and
	// refuses windows whose standard deviation is 10 or less (flat areas).
	nf := ev.area*float64(q) - float64(s)*float64(s)
	if nf <= 0 {
		return rejected
	}
	norm := float32(1 / math.Sqrt(nf))
	if !(ev.area*float64(norm) < 0.1) {
		return rejected
	}
	return ev.runHaar(p, norm)
}

// runHaar walks the stages of a Haar cascade. Feature values are computed in float32 as OpenCV
// does, each product rounded (no fused multiply-add on any machine); leaf values add up in
// float64.
func (ev *evaluator) runHaar(p int, norm float32) outcome {
	s := ev.sum[p:]
	for si, st := range ev.stages {
		var sum float64
		for _, t := range ev.trees[st.first:st.last] {
			idx := 0
			for {
				n := &ev.haar[t.node+idx]
				o := &n.ofs
				v := float32(n.weight[0]*float32(s[o[0]]-s[o[1]]-s[o[2]]+s[o[3]])) +
					float32(n.weight[1]*float32(s[o[4]]-s[o[5]]-s[o[6]]+s[o[7]]))
				if n.weight[2] != 0 {
					v += float32(n.weight[2] * float32(s[o[8]]-s[o[9]]-s[o[10]]+s[o[11]]))
				}
				if v*norm < n.threshold {
					idx = n.left
				} else {
					idx = n.right
				}
				if idx <= 0 {
					break
				}
			}
			sum += float64(ev.leaves[t.leaf-idx])
		}
		if sum < float64(st.threshold) {
			return stageOutcome(si)
		}
	}
	return accepted
}

// runLBP walks the stages of an LBP cascade. A pattern has one bit per outer cell of the 3×3
// grid, set when the cell's sum is at least the centre cell's, clockwise from the top-left
// (bit 7); a node goes left when its subset holds the pattern.
func (ev *evaluator) runLBP(p int) outcome {
	s := ev.sum[p:]
	for si, st := range ev.stages {
		var sum float64
		for _, t := range ev.trees[st.first:st.last] {
			idx := 0
			for {
				n := &ev.lbp[t.node+idx]
				code := lbpCode(s, &n.ofs)
				if n.subset[code>>5&7]&(1<<(code&31)) != 0 {
					idx = n.left
				} else {
					idx = n.right
				}
				if idx <= 0 {
					break
				}
			}
			sum += float64(ev.leaves[t.leaf-idx])
		}
		if sum < float64(st.threshold) {
			return stageOutcome(si)
		}
	}
	return accepted
}

// lbpCode is the pattern of the 3×3 grid whose 16 corners are at offsets o in s.
func lbpCode(s []int32, o *[16]int32) uint {
	c := [16]int32{s[o[0]], s[o[1]], s[o[2]], s[o[3]], s[o[4]], s[o[5]], s[o[6]], s[o[7]],
		s[o[8]], s[o[9]], s[o[10]], s[o[11]], s[o[12]], s[o[13]], s[o[14]], s[o[15]]}
	centre := c[5] - c[6] - c[9] + c[10]
	return bit(c[0]-c[1]-c[4]+c[5] >= centre, 128) | bit(c[1]-c[2]-c[5]+c[6] >= centre, 64) |
		bit(c[2]-c[3]-c[6]+c[7] >= centre, 32) | bit(c[6]-c[7]-c[10]+c[11] >= centre, 16) |
		bit(c[10]-c[11]-c[14]+c[15] >= centre, 8) | bit(c[9]-c[10]-c[13]+c[14] >= centre, 4) |
		bit(c[8]-c[9]-c[12]+c[13] >= centre, 2) | bit(c[4]-c[5]-c[8]+c[9] >= centre, 1)
}

func bit(set bool, v uint) uint {
	if set {
		return v
	}
	return 0
}

func stageOutcome(stage int) outcome {
	if stage == 0 {
		return firstStage
	}
	return rejected
}
