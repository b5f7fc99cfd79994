DROP TABLE plan_measures;
DROP TABLE security_plans;
