-- Foreign keys and secondary indexes, added after the bulk seed (validating
-- them once is much faster than checking every inserted row).  Included by
-- init.sql; run as the database owner.

ALTER TABLE school.enrolments
    ADD CONSTRAINT enrolments_student_fk FOREIGN KEY (student_id)
        REFERENCES school.students (student_id),
    ADD CONSTRAINT enrolments_course_fk FOREIGN KEY (course_id)
        REFERENCES school.courses (course_id);
ALTER TABLE school.grades
    ADD CONSTRAINT grades_enrolment_fk FOREIGN KEY (enrolment_id)
        REFERENCES school.enrolments (enrolment_id);

CREATE INDEX enrolments_student_idx ON school.enrolments (student_id);
CREATE INDEX enrolments_course_idx ON school.enrolments (course_id);
CREATE INDEX grades_enrolment_idx ON school.grades (enrolment_id);

ANALYZE school.students, school.courses, school.enrolments, school.grades;
