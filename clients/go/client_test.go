package capplan

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// One live router per database (starting one is the slow part): the typed errors, the replay, then the design
// document's calls, which drain eu-west-1 at the end.
func TestAgainstALiveRouter(t *testing.T) {
	backends(t, func(t *testing.T, router *liveRouter) {
		t.Run("typed errors", func(t *testing.T) { testTypedErrors(t, router) })
		t.Run("replay", func(t *testing.T) { testReplay(t, router) })
		t.Run("design document calls", func(t *testing.T) { testDesignDocumentCalls(t, router) })
	})
}

// The design document's two calls, written as the document writes them.
func testDesignDocumentCalls(t *testing.T, router *liveRouter) {
	ctx, client := testContext(t), router.client()
	volumes := []string{"/data"}

	cluster, err := client.SelectCluster(ctx, SelectClusterInput{Region: "eu-west", HasVolume: len(volumes) > 0})
	if err != nil {
		t.Fatal(err)
	}
	if cluster.ID != "eu-west-1" || cluster.TaskQueue != "deployer-eu-west-1" {
		t.Fatalf("selectCluster chose %q on %q, want eu-west-1 on deployer-eu-west-1", cluster.ID, cluster.TaskQueue)
	}
	if cluster.CustomerQuotaChecked || len(cluster.Clusters) != 2 {
		t.Fatalf("a dry run without a customer: quota checked %v, %d cluster records", cluster.CustomerQuotaChecked,
			len(cluster.Clusters))
	}

	placement, err := client.Place(ctx, PlacementInput{
		ServiceName: "my-app",
		Repo:        "my-app",
		Request:     PlacementRequest{CustomerID: "cust-1", Region: "eu-west", HasVolume: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if placement.Replayed || placement.ClusterID != "eu-west-1" || placement.Volume == nil {
		t.Fatalf("placement: %+v", placement)
	}
	if placement.Volume.Size != "10Gi" || placement.Volume.MountPath != "/data" || placement.Volume.Node != placement.Node {
		t.Fatalf("the default volume: %+v", placement.Volume)
	}

	// getClusterForService, then TaskQueue: cluster.TaskQueue.
	service, err := client.ClusterForService(ctx, placement.ServiceID)
	if err != nil {
		t.Fatal(err)
	}
	if service.TaskQueue != placement.TaskQueue || service.ClusterID != "eu-west-1" || service.Region != "eu-west" {
		t.Fatalf("service: %+v, placement: %+v", service, placement)
	}
	if len(service.Volumes) != 1 || service.Volumes[0].Node != placement.Node || service.Volumes[0].SizeBytes != 10<<30 {
		t.Fatalf("service volumes: %+v", service.Volumes)
	}
	if service.CreatedAt.IsZero() || service.CustomerID != "cust-1" || service.Name != "my-app" {
		t.Fatalf("service: %+v", service)
	}

	// A draining cluster takes no new services, but its services' deploys must still reach it.
	router.admin(t, http.MethodPatch, "/v1/clusters/eu-west-1", map[string]string{"status": "draining"})
	drained, err := client.ClusterForService(ctx, placement.ServiceID)
	if err != nil {
		t.Fatal(err)
	}
	if drained.TaskQueue != "deployer-eu-west-1" || drained.ClusterStatus != "draining" {
		t.Fatalf("after the drain: %+v", drained)
	}
	elsewhere, err := client.SelectCluster(ctx, SelectClusterInput{Region: "eu-west"})
	if err != nil {
		t.Fatal(err)
	}
	if elsewhere.ID != "us-east-1" {
		t.Fatalf("a new service went to %q while eu-west-1 drains", elsewhere.ID)
	}

	release, err := client.Release(ctx, placement.ServiceID)
	if err != nil || !release.Released {
		t.Fatalf("release: %+v, %v", release, err)
	}
	again, err := client.Release(ctx, placement.ServiceID)
	if err != nil || again.Released {
		t.Fatalf("second release: %+v, %v", again, err)
	}
	if _, err := client.ClusterForService(ctx, placement.ServiceID); !errors.Is(err, ErrReleased) {
		t.Fatalf("a released service: %v, want ErrReleased", err)
	}
	if _, err := client.ClusterForService(ctx, "svc-never-placed"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an unknown service: %v, want ErrNotFound", err)
	}
	if _, err := client.Release(ctx, "svc-never-placed"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("releasing an unknown service: %v, want ErrNotFound", err)
	}
}

func testTypedErrors(t *testing.T, router *liveRouter) {
	ctx, client := testContext(t), router.client()

	_, err := client.SelectCluster(ctx, SelectClusterInput{Region: "eu-west", RAM: "1000Gi"})
	var nothing *NothingFitsError
	if !errors.As(err, &nothing) {
		t.Fatalf("select 1000Gi: %v, want a *NothingFitsError", err)
	}
	reasons := nothing.Reasons()
	if len(reasons) != 2 || !strings.HasPrefix(reasons["eu-west-1"], "ram-fit") ||
		!strings.HasPrefix(reasons["us-east-1"], "ram-fit") {
		t.Fatalf("per-cluster reasons: %v", reasons)
	}
	if !strings.HasPrefix(nothing.Detail, "0/2 clusters fit") {
		t.Fatalf("detail: %q", nothing.Detail)
	}

	_, err = client.Place(ctx, PlacementInput{
		ServiceName: "big",
		Request:     PlacementRequest{CustomerID: "c1", Volumes: []VolumeInput{{Size: "60Gi"}}},
	})
	if !errors.As(err, &nothing) || len(nothing.Decision.QuotaViolations) != 1 {
		t.Fatalf("a 60Gi volume: %v, want a quota refusal", err)
	}

	_, err = client.SelectCluster(ctx, SelectClusterInput{Volumes: []VolumeInput{{Size: "lots"}}})
	var invalid *ValidationError
	if !errors.As(err, &invalid) || invalid.Problems[0].Field() != "volumes[0].size" {
		t.Fatalf("size lots: %v, want a *ValidationError at volumes[0].size", err)
	}
	_, err = client.Place(ctx, PlacementInput{ServiceName: "anonymous", Request: PlacementRequest{Region: "eu-west"}})
	if !errors.As(err, &invalid) || invalid.Problems[0].Field() != "request.customer_id" {
		t.Fatalf("a placement without a customer: %v, want a *ValidationError at request.customer_id", err)
	}
}

func testReplay(t *testing.T, router *liveRouter) {
	ctx, client := testContext(t), router.client()
	order := PlacementInput{
		RequestID:   "order-42",
		ServiceName: "shop",
		Request:     PlacementRequest{CustomerID: "c42", Region: "us-east", RAM: "2Gi"},
	}
	first, err := client.Place(ctx, order)
	if err != nil {
		t.Fatal(err)
	}
	second, err := client.Place(ctx, order)
	if err != nil {
		t.Fatal(err)
	}
	if first.Replayed || !second.Replayed || second.ServiceID != first.ServiceID || second.ClusterID != "us-east-1" {
		t.Fatalf("first %+v, second %+v", first, second)
	}
	view := router.admin(t, http.MethodGet, "/v1/clusters/us-east-1", nil)
	if services := view["reserved_since_snapshot"].(map[string]interface{})["services"]; services != 1.0 {
		t.Fatalf("reserved services after a replay: %v, want 1", services)
	}
	order.Request.RAM = "3Gi"
	_, err = client.Place(ctx, order)
	var conflict *ConflictError
	if !errors.As(err, &conflict) || !strings.Contains(conflict.Detail, "order-42") {
		t.Fatalf("the request id with another body: %v, want a *ConflictError", err)
	}
}

// A placement while PostgreSQL is down: the router answers 503 with Retry-After, the client waits that long and
// tries again with the same request id, and once the database is back exactly one placement exists.
func TestPlacementRetriesThroughAStoppedDatabase(t *testing.T) {
	database := pgDatabase(t)
	proxy := newTCPProxy(t, database.Host)
	proxied := *database
	proxied.Host = proxy.addr
	router := startRouter(t, proxied.String())
	router.seedFleet(t)
	ctx := testContext(t)

	recorder := &recordingTransport{}
	client := router.client()
	client.HTTPClient = &http.Client{Transport: recorder, Timeout: 30 * time.Second}
	client.MaxAttempts = 60 // the database comes back after the first refusal; a loaded machine may take a while
	var waits []time.Duration
	var causes []error
	client.OnRetry = func(attempt int, wait time.Duration, cause error) {
		waits = append(waits, wait)
		causes = append(causes, cause)
		if attempt == 1 {
			if err := proxy.start(); err != nil {
				t.Errorf("restart the proxy: %v", err)
			}
		}
	}

	proxy.stop()
	placement, err := client.Place(ctx, PlacementInput{
		ServiceName: "during-outage",
		Request:     PlacementRequest{CustomerID: "c-outage", Region: "eu-west", HasVolume: true},
	})
	if err != nil {
		t.Fatalf("place through the outage: %v (router log: %s)", err, router.log())
	}
	attempts := recorder.recorded()
	if len(attempts) < 2 || attempts[0].status != http.StatusServiceUnavailable {
		t.Fatalf("attempts %+v: want a 503 first, then a retry", attempts)
	}
	if waits[0] != time.Second || !errors.Is(causes[0], ErrUnavailable) {
		t.Fatalf("first wait %v after %v: want Retry-After's 1s after a 503", waits[0], causes[0])
	}
	for _, attempt := range attempts {
		if attempt.requestID == "" || attempt.requestID != placement.RequestID {
			t.Fatalf("attempts %+v: every retry must carry the request id %q", attempts, placement.RequestID)
		}
	}
	if final := attempts[len(attempts)-1].status; final != http.StatusCreated && final != http.StatusOK {
		t.Fatalf("last attempt answered %d", final)
	}

	service, err := client.ClusterForService(ctx, placement.ServiceID)
	if err != nil || service.TaskQueue != placement.TaskQueue {
		t.Fatalf("lookup after the outage: %+v, %v", service, err)
	}
	view := router.admin(t, http.MethodGet, "/v1/clusters/"+placement.ClusterID, nil)
	if services := view["reserved_since_snapshot"].(map[string]interface{})["services"]; services != 1.0 {
		t.Fatalf("reserved services: %v, want exactly 1", services)
	}
}
