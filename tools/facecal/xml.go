package main

import (
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/avatar-pipeline/avatar-pipeline/internal/face/cascade"
)

// The parts of OpenCV's cascade XML (the format traincascade writes) that detection uses.
type xmlStorage struct {
	Cascade struct {
		StageType   string       `xml:"stageType"`
		FeatureType string       `xml:"featureType"`
		Width       int          `xml:"width"`
		Height      int          `xml:"height"`
		MaxCatCount int          `xml:"featureParams>maxCatCount"`
		Stages      []xmlStage   `xml:"stages>_"`
		Features    []xmlFeature `xml:"features>_"`
	} `xml:"cascade"`
}

type xmlStage struct {
	Threshold string `xml:"stageThreshold"`
	Weak      []struct {
		Nodes  string `xml:"internalNodes"`
		Leaves string `xml:"leafValues"`
	} `xml:"weakClassifiers>_"`
}

type xmlFeature struct {
	Rects  []string `xml:"rects>_"` // Haar: "x y w h weight"
	Rect   string   `xml:"rect"`    // LBP: "x y w h"
	Tilted int      `xml:"tilted"`
}

// loadXML reads a cascade XML file.
func loadXML(name string) (*cascade.Cascade, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := readXML(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// readXML parses a cascade in OpenCV's XML format. Numbers are read as float64 and then
// narrowed to float32, as OpenCV's FileStorage does, and each stage threshold is lowered by
// 1e-5 as CascadeClassifier does on loading.
func readXML(r io.Reader) (*cascade.Cascade, error) {
	var st xmlStorage
	if err := xml.NewDecoder(r).Decode(&st); err != nil {
		return nil, fmt.Errorf("parse cascade XML: %w", err)
	}
	x := st.Cascade
	c := &cascade.Cascade{Width: x.Width, Height: x.Height}
	switch {
	case x.StageType != "BOOST":
		return nil, fmt.Errorf("stage type %q: only BOOST cascades are supported", x.StageType)
	case x.FeatureType == "HAAR" && x.MaxCatCount == 0:
		c.Kind = cascade.Haar
	case x.FeatureType == "LBP" && x.MaxCatCount == 256:
		c.Kind = cascade.LBP
	default:
		return nil, fmt.Errorf("feature type %q with %d categories is not supported", x.FeatureType, x.MaxCatCount)
	}
	for i, f := range x.Features {
		feat, err := parseFeature(c.Kind, f)
		if err != nil {
			return nil, fmt.Errorf("feature %d: %w", i, err)
		}
		c.Features = append(c.Features, feat)
	}
	for i, s := range x.Stages {
		stage, err := parseStage(c.Kind, s)
		if err != nil {
			return nil, fmt.Errorf("stage %d: %w", i, err)
		}
		c.Stages = append(c.Stages, stage)
	}
	// Encoding validates: every index in range, every rectangle inside the window.
	if _, err := c.MarshalBinary(); err != nil {
		return nil, err
	}
	return c, nil
}

func parseFeature(k cascade.Kind, f xmlFeature) (cascade.Feature, error) {
	feat := cascade.Feature{Tilted: f.Tilted != 0}
	texts := f.Rects
	if k == cascade.LBP {
		texts = []string{f.Rect}
	}
	for _, t := range texts {
		v, err := numbers(t)
		if err != nil {
			return feat, err
		}
		if len(v) != 4 && len(v) != 5 {
			return feat, fmt.Errorf("rectangle %q", t)
		}
		r := cascade.Rect{X: int(v[0]), Y: int(v[1]), W: int(v[2]), H: int(v[3])}
		if len(v) == 5 {
			r.Weight = float32(v[4])
		}
		feat.Rects = append(feat.Rects, r)
	}
	return feat, nil
}

func parseStage(k cascade.Kind, s xmlStage) (cascade.Stage, error) {
	th, err := strconv.ParseFloat(strings.TrimSpace(s.Threshold), 64)
	if err != nil {
		return cascade.Stage{}, fmt.Errorf("threshold: %w", err)
	}
	stage := cascade.Stage{Threshold: float32(th) - float32(1e-5)}
	step := 4 // left, right, feature, threshold
	if k == cascade.LBP {
		step = 3 + 8 // left, right, feature, 256-bit subset
	}
	for j, w := range s.Weak {
		nodes, err := numbers(w.Nodes)
		if err != nil || len(nodes)%step != 0 {
			return stage, fmt.Errorf("tree %d: internal nodes %q", j, w.Nodes)
		}
		leaves, err := numbers(w.Leaves)
		if err != nil {
			return stage, fmt.Errorf("tree %d: leaves: %w", j, err)
		}
		var t cascade.Tree
		for i := 0; i < len(nodes); i += step {
			n := cascade.Node{Left: int(nodes[i]), Right: int(nodes[i+1]), Feature: int(nodes[i+2])}
			if k == cascade.Haar {
				n.Threshold = float32(nodes[i+3])
			} else {
				for b := range n.Subset {
					n.Subset[b] = uint32(int32(nodes[i+3+b]))
				}
			}
			t.Nodes = append(t.Nodes, n)
		}
		for _, v := range leaves {
			t.Leaves = append(t.Leaves, float32(v))
		}
		stage.Trees = append(stage.Trees, t)
	}
	return stage, nil
}

func numbers(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Fields(s) {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
