DROP TABLE risk_assessments;
