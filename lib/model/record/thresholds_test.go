package record

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestThresholdsNullAndStrict: null turns into Off, Off survives a round
// trip, and an unknown name is an error even inside another record.
func TestThresholdsNullAndStrict(t *testing.T) {
	var th Thresholds
	if err := json.Unmarshal([]byte(`{"max_gap_ms": null, "min_busy_pct": 50, "off": ["isolation"]}`), &th); err != nil {
		t.Fatal(err)
	}
	if th.MaxGapMS != nil || *th.MinBusyPct != 50 || !slices.Equal(th.Off, []string{"isolation", "max_gap_ms"}) {
		t.Errorf("%+v", th)
	}
	b, _ := json.Marshal(&th)
	var back Thresholds
	if err := json.Unmarshal(b, &back); err != nil || !slices.Equal(back.Off, th.Off) {
		t.Errorf("round trip %s: %+v, %v", b, back, err)
	}
	var j Job
	err := json.Unmarshal([]byte(`{"topology": {"name": "1n1l1c1t"}, "thresholds": {"max_gap": 1}}`), &j)
	if err == nil || !strings.Contains(err.Error(), `unknown limit "max_gap"`) {
		t.Errorf("misspelt limit in a job: %v", err)
	}
}
