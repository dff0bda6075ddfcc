package face

import (
	"image"
	"slices"
	"testing"
)

func TestAssess(t *testing.T) {
	box := func(x, y, size int) image.Rectangle { return image.Rect(x, y, x+size, y+size) }
	front := func(b image.Rectangle, eyes int) Face { return Face{Box: b, Kind: Frontal, Eyes: eyes} }
	big := front(box(200, 100, 200), 2)
	for _, tc := range []struct {
		name    string
		faces   []Face
		main    *Face
		codes   []string
		rejects int
	}{
		{"one good face", []Face{big}, &big, nil, 0},
		{"no face", nil, nil, []string{CodeNoFace}, 1},
		{"only a profile", []Face{{Box: box(200, 100, 200), Kind: Profile}}, nil, []string{CodeProfile}, 1},
		{"a profile beside a frontal face is ignored", []Face{{Box: box(0, 0, 300), Kind: Profile}, big}, &big, nil, 0},
		{"two of a size", []Face{big, front(box(500, 100, 150), 2)}, &big, []string{CodeSeveralFaces}, 1},
		{"the largest is main, whatever the order", []Face{front(box(500, 100, 150), 2), big}, &big, []string{CodeSeveralFaces}, 1},
		{"one in the background", []Face{big, front(box(600, 50, 60), 0)}, &big, []string{CodeBackgroundFace}, 0},
		{"two in the background", []Face{big, front(box(600, 50, 60), 0), front(box(700, 50, 60), 0)}, &big, []string{CodeBackgroundFace}, 0},
		{"a crowd behind is a group", []Face{big, front(box(600, 50, 60), 0), front(box(700, 50, 60), 0), front(box(800, 50, 60), 0)}, &big, []string{CodeSeveralFaces}, 1},
		{"small face", []Face{front(box(300, 300, 70), 2)}, ptr(front(box(300, 300, 70), 2)), []string{CodeSmallFace}, 0},
		{"eyes hidden", []Face{front(box(200, 100, 200), 0)}, ptr(front(box(200, 100, 200), 0)), []string{CodeEyesHidden}, 0},
		// Eyes are not looked for in faces narrower than MinEyeFace: finding none says nothing.
		{"eyes too small to see", []Face{front(box(300, 300, MinEyeFace-1), 0)}, ptr(front(box(300, 300, MinEyeFace-1), 0)), []string{CodeSmallFace}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			main, findings := Assess(tc.faces, 1024, 512)
			if (main == nil) != (tc.main == nil) || main != nil && *main != *tc.main {
				t.Errorf("main: got %v, want %v", main, tc.main)
			}
			if got := codes(findings); !slices.Equal(got, tc.codes) {
				t.Errorf("codes: got %v, want %v", got, tc.codes)
			}
			rejects := 0
			for i, f := range findings {
				if f.Reject {
					rejects++
					if i > 0 && !findings[i-1].Reject {
						t.Errorf("finding %d rejects after a warning: rejections must come first", i)
					}
				}
				if f.Reason == "" {
					t.Errorf("finding %s has no reason", f.Code)
				}
			}
			if rejects != tc.rejects {
				t.Errorf("rejections: got %d, want %d", rejects, tc.rejects)
			}
		})
	}
}

func ptr(f Face) *Face { return &f }
