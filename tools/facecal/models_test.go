package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/avatar-pipeline/avatar-pipeline/internal/face/cascade"
)

// A two-stage LBP cascade in OpenCV's format, small enough to check field by field.
const lbpXML = `<?xml version="1.0"?>
<opencv_storage>
<cascade>
  <stageType>BOOST</stageType>
  <featureType>LBP</featureType>
  <height>6</height>
  <width>9</width>
  <featureParams><maxCatCount>256</maxCatCount></featureParams>
  <stages>
    <_>
      <stageThreshold>-0.75</stageThreshold>
      <weakClassifiers>
        <_>
          <internalNodes>0 -1 1 -1 -17409 0 0 0 0 0 1</internalNodes>
          <leafValues>-0.5 0.25</leafValues></_></weakClassifiers></_>
    <_>
      <stageThreshold>1.5e-001</stageThreshold>
      <weakClassifiers>
        <_>
          <internalNodes>0 -1 0 0 0 0 0 0 0 0 2</internalNodes>
          <leafValues>1. -1.</leafValues></_></weakClassifiers></_></stages>
  <features>
    <_><rect>0 0 3 2</rect></_>
    <_><rect>0 0 1 1</rect></_></features>
</cascade>
</opencv_storage>`

func TestReadXML(t *testing.T) {
	c, err := readXML(strings.NewReader(lbpXML))
	if err != nil {
		t.Fatal(err)
	}
	if c.Kind != cascade.LBP || c.Width != 9 || c.Height != 6 || len(c.Stages) != 2 || len(c.Features) != 2 {
		t.Fatalf("got %+v, want a 9×6 LBP cascade of 2 stages and 2 features", c)
	}
	// OpenCV lowers each stage threshold by 1e-5 in float32 when it loads a cascade.
	if got, want := c.Stages[0].Threshold, float32(-0.75)-float32(1e-5); got != want {
		t.Errorf("threshold: got %v, want %v", got, want)
	}
	n := c.Stages[0].Trees[0].Nodes[0]
	if n.Feature != 1 || n.Left != 0 || n.Right != -1 || n.Subset[0] != math.MaxUint32 || n.Subset[1] != uint32(0xFFFFBBFF) || n.Subset[7] != 1 {
		t.Errorf("node: got %+v", n)
	}
	if got := c.Stages[1].Trees[0].Leaves; got[0] != 1 || got[1] != -1 {
		t.Errorf("leaves: got %v, want [1 -1]", got)
	}
	if got := c.Features[0].Rects[0]; got != (cascade.Rect{X: 0, Y: 0, W: 3, H: 2}) {
		t.Errorf("feature: got %+v", got)
	}
}

func TestReadXMLRejects(t *testing.T) {
	for _, tc := range []struct{ name, from, to string }{
		{"HOG", "<featureType>LBP", "<featureType>HOG"},
		{"feature outside the window", "<rect>0 0 3 2</rect>", "<rect>0 0 4 2</rect>"},
		{"feature out of range", "0 -1 1 -1 -17409", "0 -1 9 -1 -17409"},
		{"short node", "0 -1 0 0 0 0 0 0 0 0 2", "0 -1 0 0 0 0 0 0 0 2"},
		{"not XML", "<opencv_storage>", "<opencv_storage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(lbpXML, tc.from) {
				t.Fatalf("%q is not in the sample", tc.from)
			}
			if _, err := readXML(strings.NewReader(strings.Replace(lbpXML, tc.from, tc.to, 1))); err == nil {
				t.Error("got no error, want one")
			}
		})
	}
}

// TestEmbeddedModels converts OpenCV's XML files, where Debian's opencv-data package has
// installed them, and checks that the result is the embedded model byte for byte.
func TestEmbeddedModels(t *testing.T) {
	const dir = "/usr/share/opencv4"
	for _, xml := range []string{
		"haarcascades/haarcascade_frontalface_alt2.xml",
		"lbpcascades/lbpcascade_frontalface_improved.xml",
		"haarcascades/haarcascade_eye.xml",
		"lbpcascades/lbpcascade_profileface.xml",
	} {
		t.Run(filepath.Base(xml), func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(dir, xml)); err != nil {
				t.Skipf("%s: install opencv-data to check the embedded model against it", err)
			}
			c, err := loadXML(filepath.Join(dir, xml))
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join("..", "..", "internal", "face", "models", strings.TrimSuffix(filepath.Base(xml), ".xml")+".cascade"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("converted model differs from the embedded one (%d bytes, want %d)", len(got), len(want))
			}
		})
	}
}
