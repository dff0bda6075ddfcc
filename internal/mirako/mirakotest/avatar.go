package mirakotest

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The statuses of the spec's AvatarResponse.
const (
	statusPending  = "PENDING"
	statusBuilding = "BUILDING"
	statusReady    = "READY"
	statusError    = "ERROR"
)

// readyModels is supported_interactive_models of a READY avatar; metis-2.5 is the interactive model
// the spec names as the default.
var readyModels = []string{"metis-2.5"}

// avatar is a build the simulator knows about.
type avatar struct {
	id        string
	name      string
	userID    string
	createdAt time.Time
	tags      nameTags
	gets      int // GETs counted against tags.get
}

// avatarJSON is the spec's AvatarResponse (additionalProperties: false). The two lists marshal to
// null while nil, as the spec allows and as a Go server sends them.
type avatarJSON struct {
	CreatedAt                  string      `json:"created_at"`
	ID                         string      `json:"id"`
	Name                       string      `json:"name"`
	Status                     string      `json:"status"`
	SupportedInteractiveModels []string    `json:"supported_interactive_models"`
	Themes                     []themeJSON `json:"themes"`
	UserID                     string      `json:"user_id"`
}

// themeJSON is the spec's PresignedAvatarTheme.
type themeJSON struct {
	KeyImage  string `json:"key_image"`
	LiveVideo string `json:"live_video"`
	Name      string `json:"name"`
}

// statusOf is a's status at now: PENDING for the first tenth of BuildTime, then BUILDING, then READY
// or ERROR; an "[stuck]" avatar stays BUILDING.
func (s *Simulator) statusOf(a *avatar, now time.Time) string {
	elapsed := now.Sub(a.createdAt)
	switch {
	case elapsed < s.cfg.BuildTime/10:
		return statusPending
	case a.tags.stuck || elapsed < s.cfg.BuildTime:
		return statusBuilding
	case a.tags.fail:
		return statusError
	}
	return statusReady
}

func (s *Simulator) viewLocked(a *avatar, now time.Time) avatarJSON {
	v := avatarJSON{
		CreatedAt: a.createdAt.UTC().Format(time.RFC3339Nano),
		ID:        a.id,
		Name:      a.name,
		Status:    s.statusOf(a, now),
		UserID:    a.userID,
	}
	if v.Status == statusReady {
		v.SupportedInteractiveModels = slices.Clone(readyModels)
		v.Themes = []themeJSON{themeFor(a.id, "Default")}
	}
	return v
}

// themeFor makes presigned-looking URLs on a reserved domain (.test never resolves): the pipeline
// records theme names and must not depend on fetching them.
func themeFor(id, name string) themeJSON {
	sig := sha256.Sum256([]byte(id + "/" + name))
	base := fmt.Sprintf("https://assets.mirako.test/avatars/%s/themes/%s/", id, strings.ToLower(name))
	query := fmt.Sprintf("?X-Amz-Expires=3600&X-Amz-Signature=%x", sig[:16])
	return themeJSON{Name: name, KeyImage: base + "key_image.png" + query, LiveVideo: base + "live_video.mp4" + query}
}

// get serves GetAvatarById.
func (s *Simulator) get(id string, faulted bool) *response {
	s.mu.Lock()
	a := s.avatars[id]
	if a == nil {
		s.mu.Unlock()
		return problemResponse(http.StatusNotFound, "avatar "+id+" not found", nil)
	}
	view := s.viewLocked(a, s.cfg.Now())
	var f Fault
	if t := a.tags.get; t != nil && !faulted {
		a.gets++
		if t.n == 0 || a.gets <= t.n {
			f = t.fault
			s.stats.Faults[f]++
		}
	}
	s.mu.Unlock()
	resp := jsonResponse(http.StatusOK, struct {
		Data avatarJSON `json:"data"`
	}{view})
	resp.fault = f
	return resp
}

// list serves GetUserAvatarList: the caller's avatars, newest first; "data" is null when there are
// none, which the spec allows and a Go server does.
func (s *Simulator) list() *response {
	s.mu.Lock()
	now := s.cfg.Now()
	var data []avatarJSON
	for i := len(s.order) - 1; i >= 0; i-- {
		if a := s.order[i]; a.userID == s.userID {
			data = append(data, s.viewLocked(a, now))
		}
	}
	s.mu.Unlock()
	return jsonResponse(http.StatusOK, struct {
		Data []avatarJSON `json:"data"`
	}{data})
}

// delete serves DeleteAvatar.
func (s *Simulator) delete(id string) *response {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.avatars[id]
	if a == nil {
		return problemResponse(http.StatusNotFound, "avatar "+id+" not found", nil)
	}
	delete(s.avatars, id)
	s.order = slices.DeleteFunc(s.order, func(b *avatar) bool { return b == a })
	s.stats.BuildsDeleted++
	return &response{status: http.StatusNoContent, header: http.Header{}}
}

// nameTags are the scripted outcomes an avatar name asks for.
type nameTags struct {
	fail      bool // [error]
	stuck     bool // [stuck]
	credits   bool // [credits]
	forbidden bool // [forbidden]
	post      *tagFault
	get       *tagFault
}

// tagFault is a fault from a name: for the first n requests, or all of them when n is 0.
type tagFault struct {
	fault Fault
	n     int
}

var (
	tagPattern      = regexp.MustCompile(`\[([^\[\]]*)\]`)
	tagFaultPattern = regexp.MustCompile(`^([a-z0-9_]+?)(?:x([0-9]+))?$`)
)

// parseTags reads the bracketed tags of a name. Unknown tags are ordinary text; of several fault tags
// for the same requests, the first counts.
func parseTags(name string) nameTags {
	var t nameTags
	for _, m := range tagPattern.FindAllStringSubmatch(name, -1) {
		tag := strings.ToLower(strings.TrimSpace(m[1]))
		switch tag {
		case "error":
			t.fail = true
			continue
		case "stuck":
			t.stuck = true
			continue
		case "credits":
			t.credits = true
			continue
		case "forbidden":
			t.forbidden = true
			continue
		}
		target := &t.post
		if rest, ok := strings.CutPrefix(tag, "get:"); ok {
			tag, target = rest, &t.get
		}
		fm := tagFaultPattern.FindStringSubmatch(tag)
		if fm == nil || *target != nil {
			continue
		}
		f := Fault(fm[1])
		if !f.before() && !f.after() {
			continue
		}
		n := 0
		if fm[2] != "" {
			var err error
			if n, err = strconv.Atoi(fm[2]); err != nil || n <= 0 {
				continue
			}
		}
		*target = &tagFault{fault: f, n: n}
	}
	return t
}
