"""Local fakes of the services aispm talks to, for the tests, ``aispm demo`` and the benchmarks.

Fake Azure Resource Manager (:mod:`.fake_arm`), fake Google Vertex AI and Resource Manager APIs
(:mod:`.fake_google`) and a Splunk HTTP Event Collector (:mod:`.hec`) share one server base
(:mod:`.server`: 127.0.0.1 only, request recording, fault injection, TLS from a throw-away CA);
:mod:`.moto_gaps` teaches moto the SageMaker calls it lacks. The scanner never imports this package
(import-linter keeps the stages off it) and the Lambda artifacts leave it out.
"""
