package main

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// kafkaUser mirrors the part of Strimzi's KafkaUser (kafka.strimzi.io/v1beta2)
// that Vox uses; decoded strictly, any other field is an error (add it here
// when it is needed, as Strimzi spells it).
type kafkaUser struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              kafkaUserSpec `json:"spec"`
}

type kafkaUserSpec struct {
	Authentication *kafkaUserAuthentication `json:"authentication,omitempty"`
	Authorization  *kafkaUserAuthorization  `json:"authorization,omitempty"`
}

type kafkaUserAuthentication struct {
	// scram-sha-512, tls or tls-external.
	Type string `json:"type"`
}

type kafkaUserAuthorization struct {
	// simple.
	Type string    `json:"type"`
	ACLs []aclRule `json:"acls,omitempty"`
}

type aclRule struct {
	// allow (the default) or deny.
	Type       string      `json:"type,omitempty"`
	Resource   aclResource `json:"resource"`
	Host       string      `json:"host,omitempty"`
	Operations []string    `json:"operations,omitempty"`
}

type aclResource struct {
	// topic, group, cluster or transactionalId.
	Type string `json:"type"`
	// Not for cluster.
	Name string `json:"name,omitempty"`
	// literal (the default) or prefix.
	PatternType string `json:"patternType,omitempty"`
}

// The operations Kafka defines for each resource type (Kafka's
// documentation, "Operations and Resources on Protocols"; All is refused
// here on purpose).
var aclOperations = map[string][]string{
	"topic":           {"Read", "Write", "Create", "Delete", "Alter", "Describe", "DescribeConfigs", "AlterConfigs"},
	"group":           {"Read", "Describe", "Delete"},
	"cluster":         {"Create", "ClusterAction", "DescribeConfigs", "AlterConfigs", "IdempotentWrite", "Alter", "Describe"},
	"transactionalId": {"Describe", "Write"},
}
