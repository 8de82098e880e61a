package capplan

import "time"

// The request and response bodies of the router's API, field for field as its OpenAPI document names them
// (GET /openapi.json). contract_test.go lists which schema each struct mirrors; the Python suite checks both sides
// agree, so a field added to one and not the other fails the tests.
//
// Sizes are Kubernetes quantities ("512Mi", "10Gi") or plain byte counts written as strings ("1073741824").

// SelectClusterInput is the design document's SelectClusterInput: Region and HasVolume are all it needs. What
// it leaves out (RAM, a volume's size) is the plan's default in the router's policy. Without CustomerID the
// router does not check the customer's volume quota, and says so in Cluster.CustomerQuotaChecked.
// (Schema StorableRequestIn.)
type SelectClusterInput struct {
	CustomerID          string        `json:"customer_id,omitempty"`
	Region              string        `json:"region,omitempty"`
	RAM                 string        `json:"ram,omitempty"`
	HasVolume           bool          `json:"has_volume,omitempty"`
	Volumes             []VolumeInput `json:"volumes,omitempty"`
	CustomerVolumeCount int           `json:"customer_volume_count,omitempty"`
	Plan                string        `json:"plan,omitempty"`
	Pods                int           `json:"pods,omitempty"`
	NewCustomer         bool          `json:"new_customer,omitempty"`
	EtcdObjects         *int          `json:"etcd_objects,omitempty"`
}

// PlacementRequest is what a placement asks for: as SelectClusterInput, but the customer is required, so every
// quota is checked. (Schema PlacedRequestIn.)
type PlacementRequest struct {
	CustomerID          string        `json:"customer_id"`
	Region              string        `json:"region,omitempty"`
	RAM                 string        `json:"ram,omitempty"`
	HasVolume           bool          `json:"has_volume,omitempty"`
	Volumes             []VolumeInput `json:"volumes,omitempty"`
	CustomerVolumeCount int           `json:"customer_volume_count,omitempty"`
	Plan                string        `json:"plan,omitempty"`
	Pods                int           `json:"pods,omitempty"`
	NewCustomer         bool          `json:"new_customer,omitempty"`
	EtcdObjects         *int          `json:"etcd_objects,omitempty"`
}

// VolumeInput is one of create_service's volumes: {mount_path: "/data", size: "10Gi"}. Both may be left out: the
// mount path defaults to /data and the size to the plan's default. (Schema VolumeIn.)
type VolumeInput struct {
	MountPath string `json:"mount_path,omitempty"`
	Size      string `json:"size,omitempty"`
}

// PlacementInput is one create_service call. RequestID makes it idempotent: the same id always gets the same
// answer, so a retry never places the service twice. Place fills in a random one when it is empty.
// (Schema PlacementIn.)
type PlacementInput struct {
	RequestID   string           `json:"request_id"`
	ServiceName string           `json:"service_name"`
	Repo        string           `json:"repo,omitempty"`
	ServiceID   string           `json:"service_id,omitempty"`
	Request     PlacementRequest `json:"request"`
}

// Cluster is the router's choice with its explanation: ID and TaskQueue are where the service goes; the rest is
// the engine's reasoning (OCM placement-debug shape). (Schema DecisionOut.)
type Cluster struct {
	ID                      string             `json:"cluster_id"`
	TaskQueue               string             `json:"task_queue"`
	NodeHint                string             `json:"node_hint"`
	Placed                  bool               `json:"placed"`
	Reason                  string             `json:"reason"`
	QuotaViolations         []string           `json:"quota_violations"`
	Warnings                []string           `json:"warnings"`
	CustomerQuotaChecked    bool               `json:"customer_quota_checked"`
	FilteredPipelineResults []FilterStep       `json:"filteredPipelineResults"`
	PrioritizeResults       []PrioritizeResult `json:"prioritizeResults"`
	AggregatedScores        []ClusterScore     `json:"aggregatedScores"`
	Clusters                []ClusterRecord    `json:"clusters"`
}

// FilterStep names the clusters still in the running after one filter. (Schema FilterStep.)
type FilterStep struct {
	Name             string   `json:"name"`
	FilteredClusters []string `json:"filteredClusters"`
}

// ClusterScore is one cluster's score. (Schema ClusterScore.)
type ClusterScore struct {
	ClusterName string `json:"clusterName"`
	Score       int    `json:"score"`
}

// PrioritizeResult is one scorer's scores. (Schema PrioritizeResult.)
type PrioritizeResult struct {
	Name   string         `json:"name"`
	Weight int            `json:"weight"`
	Scores []ClusterScore `json:"scores"`
}

// ClusterRecord is one cluster's trip through the engine; Reason says why it was rejected. (Schema ClusterRecord.)
type ClusterRecord struct {
	ClusterID string         `json:"cluster_id"`
	TaskQueue string         `json:"task_queue"`
	Rank      *int           `json:"rank"`
	Feasible  bool           `json:"feasible"`
	Reason    string         `json:"reason"`
	Filters   []FilterStatus `json:"filters"`
	Scores    []ScoreDetail  `json:"scores"`
	Total     *int           `json:"total"`
}

// FilterStatus is one filter's verdict on a cluster: pass, fail (with Reason) or not-run. (Schema FilterStatus.)
type FilterStatus struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Reason string `json:"reason"`
}

// ScoreDetail is one scorer's raw score, weight and weighted score for a cluster. (Schema ScoreDetail.)
type ScoreDetail struct {
	Name     string `json:"name"`
	Score    int    `json:"score"`
	Weight   int    `json:"weight"`
	Weighted int    `json:"weighted"`
}

// Placement is a reservation: the cluster and task queue the service goes to, its node and volumes.
// (Schema PlacementOut.)
type Placement struct {
	RequestID string   `json:"request_id"`
	ServiceID string   `json:"service_id"`
	ClusterID string   `json:"cluster_id"`
	TaskQueue string   `json:"task_queue"`
	Node      string   `json:"node"`
	Volume    *Volume  `json:"volume"`
	Volumes   []Volume `json:"volumes"`
	Reason    string   `json:"reason"`
	Warnings  []string `json:"warnings"`

	// Replayed is true when the router answered an earlier call with the same request id (HTTP 200, not 201).
	Replayed bool `json:"-"`
}

// Volume is the design document's tool-response volume block. (Schema VolumeOut.)
type Volume struct {
	MountPath      string `json:"mount_path"`
	Size           string `json:"size"`
	Node           string `json:"node"`
	Durability     string `json:"durability"`
	Replicas       int    `json:"replicas"`
	BackupSchedule string `json:"backup_schedule"`
}

// Release is the answer to releasing a placement; Released is false when it had been released before.
// (Schema ReleaseOut.)
type Release struct {
	ServiceID string `json:"service_id"`
	Released  bool   `json:"released"`
}

// Service is where a service lives: the design document's getClusterForService. Deploys go to TaskQueue, also
// while the cluster drains. (Schema ServiceOut.)
type Service struct {
	ID            string          `json:"service_id"`
	Name          string          `json:"name"`
	CustomerID    string          `json:"customer_id"`
	ClusterID     string          `json:"cluster_id"`
	TaskQueue     string          `json:"task_queue"`
	Region        string          `json:"region"`
	ClusterStatus string          `json:"cluster_status"`
	Node          string          `json:"node"`
	Volumes       []ServiceVolume `json:"volumes"`
	CreatedAt     time.Time       `json:"created_at"`
}

// ServiceVolume is one of a service's volumes and the run node it was placed on. (Schema ServiceVolumeOut.)
type ServiceVolume struct {
	ID        string `json:"id"`
	MountPath string `json:"mount_path"`
	Size      string `json:"size"`
	SizeBytes int64  `json:"size_bytes"`
	Node      string `json:"node"`
}
