package submit

import (
	"testing"
	"time"
)

func TestQueueTripsStayFew(t *testing.T) {
	if got := MaxQueueTrips(24 * time.Hour); got > 170 || got < 100 {
		t.Errorf("a day in the queue: %d trips, want between 100 and 170", got)
	}
	if got := minQueueWait(0); got != queueBase {
		t.Errorf("the head of a new queue waits %s, want %s", got, queueBase)
	}
	if got := minQueueWait(48 * time.Hour); got != queueMax {
		t.Errorf("a long wait: %s, want the cap %s", got, queueMax)
	}
}
