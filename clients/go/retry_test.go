package capplan

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// A server that answers the first `unavailable` calls 503 with the given Retry-After, then 201; it records bodies.
type flakyRouter struct {
	mu          sync.Mutex
	unavailable int
	retryAfter  string
	bodies      []string
}

func (f *flakyRouter) ServeHTTP(writer http.ResponseWriter, request *http.Request) {
	body, _ := io.ReadAll(request.Body)
	f.mu.Lock()
	f.bodies = append(f.bodies, string(body))
	refuse := len(f.bodies) <= f.unavailable
	f.mu.Unlock()
	writer.Header().Set("Content-Type", "application/json")
	if refuse {
		if f.retryAfter != "" {
			writer.Header().Set("Retry-After", f.retryAfter)
		}
		writer.WriteHeader(http.StatusServiceUnavailable)
		_, _ = writer.Write([]byte(`{"detail": "the database is unreachable"}`))
		return
	}
	var in PlacementInput
	_ = json.Unmarshal(body, &in)
	writer.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(writer).Encode(Placement{RequestID: in.RequestID, ServiceID: "svc-1", ClusterID: "eu-west-1"})
}

// recordSleeps makes the client's waits instant and remembers them.
func recordSleeps(client *Client) *[]time.Duration {
	var slept []time.Duration
	client.sleep = func(ctx context.Context, wait time.Duration) error {
		slept = append(slept, wait)
		return ctx.Err()
	}
	return &slept
}

func TestRetriesHonourRetryAfterAndResendTheSameBody(t *testing.T) {
	flaky := &flakyRouter{unavailable: 2, retryAfter: "3"}
	server := httptest.NewServer(flaky)
	defer server.Close()
	client := NewClient(server.URL, "t")
	slept := recordSleeps(client)

	placement, err := client.Place(context.Background(), PlacementInput{ServiceName: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if len(*slept) != 2 || (*slept)[0] != 3*time.Second || (*slept)[1] != 3*time.Second {
		t.Fatalf("waits %v, want Retry-After's 3s twice", *slept)
	}
	if len(flaky.bodies) != 3 || flaky.bodies[0] != flaky.bodies[1] || flaky.bodies[1] != flaky.bodies[2] {
		t.Fatalf("bodies %q: every attempt must send the same body", flaky.bodies)
	}
	if placement.RequestID == "" || placement.Replayed {
		t.Fatalf("placement %+v", placement)
	}
}

func TestRetryAfterIsCappedAndBackoffStandsInWhenItIsMissing(t *testing.T) {
	flaky := &flakyRouter{unavailable: 2, retryAfter: "3600"}
	server := httptest.NewServer(flaky)
	defer server.Close()
	client := NewClient(server.URL, "t")
	client.MaxRetryWait = 2 * time.Second
	slept := recordSleeps(client)
	if _, err := client.Place(context.Background(), PlacementInput{ServiceName: "web"}); err != nil {
		t.Fatal(err)
	}
	if (*slept)[0] != 2*time.Second {
		t.Fatalf("waits %v, want the 2s cap", *slept)
	}

	flaky = &flakyRouter{unavailable: 3}
	server2 := httptest.NewServer(flaky)
	defer server2.Close()
	client = NewClient(server2.URL, "t")
	slept = recordSleeps(client)
	if _, err := client.Place(context.Background(), PlacementInput{ServiceName: "web"}); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second}
	for index, wait := range want {
		if (*slept)[index] != wait {
			t.Fatalf("waits %v, want %v", *slept, want)
		}
	}
}

func TestGivingUpIsErrUnavailable(t *testing.T) {
	flaky := &flakyRouter{unavailable: 100, retryAfter: "1"}
	server := httptest.NewServer(flaky)
	defer server.Close()
	client := NewClient(server.URL, "t")
	client.MaxAttempts = 3
	recordSleeps(client)
	_, err := client.Place(context.Background(), PlacementInput{ServiceName: "web"})
	var apiError *APIError
	if !errors.Is(err, ErrUnavailable) || !errors.As(err, &apiError) || apiError.Detail != "the database is unreachable" {
		t.Fatalf("after 3 refusals: %v", err)
	}
	if len(flaky.bodies) != 3 {
		t.Fatalf("%d attempts, want 3", len(flaky.bodies))
	}
}

func TestTheContextEndsTheWait(t *testing.T) {
	flaky := &flakyRouter{unavailable: 100, retryAfter: "3600"}
	server := httptest.NewServer(flaky)
	defer server.Close()
	client := NewClient(server.URL, "t")
	ctx, cancel := context.WithCancel(context.Background())
	client.OnRetry = func(int, time.Duration, error) { cancel() }
	_, err := client.Place(ctx, PlacementInput{ServiceName: "web"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled while waiting: %v", err)
	}
}

func TestAnUnreachableRouterIsRetriedToo(t *testing.T) {
	server := httptest.NewServer(http.NotFoundHandler())
	address := server.URL
	server.Close() // nothing listens there any more
	client := NewClient(address, "t")
	client.MaxAttempts = 2
	slept := recordSleeps(client)
	_, err := client.ClusterForService(context.Background(), "svc-1")
	if err == nil || len(*slept) != 1 {
		t.Fatalf("unreachable: %v after waits %v", err, *slept)
	}
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                              0,
		"1":                             time.Second,
		" 120 ":                         2 * time.Minute,
		"-5":                            0,
		"soon":                          0,
		"Tue, 01 Dec 2026 12:00:30 GMT": 30 * time.Second,
		"Tue, 01 Dec 2026 11:00:00 GMT": 0,
	}
	for header, want := range cases {
		if got := retryAfter(header, now); got != want {
			t.Errorf("Retry-After %q: %v, want %v", header, got, want)
		}
	}
}

func TestFieldProblemPaths(t *testing.T) {
	problem := FieldProblem{Loc: []interface{}{"body", "request", "volumes", 0.0, "size"}}
	if got := problem.Field(); got != "request.volumes[0].size" {
		t.Fatalf("Field() = %q", got)
	}
}
