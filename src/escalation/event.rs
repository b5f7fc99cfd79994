//! The events escalation rules start on. Each carries the kind of its subject (the record
//! whose id is passed along) and the variables its rules' CEL expressions see (besides
//! `now`). Only `src/domain/` (in the transaction of the change) and the engine (for what
//! time alone makes happen, a missed check-in) fire them.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    AlertReceived,
    AlertDuress,
    AlertMessageReceived,
    CaseOpened,
    CaseSeverityRaised,
    CaseDuress,
    MessageReceived,
    AssessmentCreated,
    PlanCreated,
    MeasureCreated,
    RelocationRequested,
    VisaSubmitted,
    GrantRequested,
    CheckinMissed,
}

impl Event {
    pub const ALL: [Event; 14] = [
        Event::AlertReceived,
        Event::CaseOpened,
        Event::CaseSeverityRaised,
        Event::AssessmentCreated,
        Event::PlanCreated,
        Event::MeasureCreated,
        Event::RelocationRequested,
        Event::VisaSubmitted,
        Event::GrantRequested,
        Event::CheckinMissed,
        Event::MessageReceived,
        Event::CaseDuress,
        Event::AlertDuress,
        Event::AlertMessageReceived,
    ];

    /// The name rules use in `on = "…"`.
    pub fn name(self) -> &'static str {
        match self {
            Event::AlertReceived => "alert.received",
            Event::AlertDuress => "alert.duress",
            Event::AlertMessageReceived => "alert.message_received",
            Event::CaseOpened => "case.opened",
            Event::CaseSeverityRaised => "case.severity_raised",
            Event::CaseDuress => "case.duress",
            Event::MessageReceived => "message.received",
            Event::AssessmentCreated => "assessment.created",
            Event::PlanCreated => "plan.created",
            Event::MeasureCreated => "measure.created",
            Event::RelocationRequested => "relocation.requested",
            Event::VisaSubmitted => "visa.submitted",
            Event::GrantRequested => "grant.requested",
            Event::CheckinMissed => "checkin.missed",
        }
    }

    /// The kind of record the event's id names.
    pub fn subject_kind(self) -> &'static str {
        match self {
            Event::AlertReceived | Event::AlertDuress | Event::AlertMessageReceived => "alert",
            Event::CaseOpened | Event::CaseSeverityRaised | Event::CaseDuress | Event::MessageReceived => "case",
            Event::AssessmentCreated => "assessment",
            Event::PlanCreated => "plan",
            Event::MeasureCreated => "measure",
            Event::RelocationRequested => "relocation",
            Event::VisaSubmitted => "visa",
            Event::GrantRequested => "grant",
            Event::CheckinMissed => "checkin",
        }
    }

    /// The variables a rule on this event sees: the subject, and its case when it has one.
    pub fn vars(self) -> &'static [&'static str] {
        match self.subject_kind() {
            "alert" => &["alert"],
            "case" => &["case"],
            "assessment" => &["assessment", "case"],
            "plan" => &["plan", "case"],
            "measure" => &["measure", "case"],
            "relocation" => &["relocation", "case"],
            "visa" => &["visa", "case"],
            "grant" => &["grant", "case"],
            _ => &["checkin", "case"],
        }
    }

    pub fn parse(name: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::Event;

    #[test]
    fn names_round_trip_and_are_unique() {
        for e in Event::ALL {
            assert_eq!(Event::parse(e.name()), Some(e));
            assert_eq!(e.vars()[0], e.subject_kind(), "{e:?}: the subject comes first");
        }
        let mut names: Vec<_> = Event::ALL.iter().map(|e| e.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Event::ALL.len());
        assert_eq!(Event::parse("case.closed"), None);
    }
}
